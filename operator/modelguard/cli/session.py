"""A kubernetes client for the chosen kubeconfig context, and calls that explain failures."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from modelguard import __version__
from modelguard.cli.errors import (
    Attempt,
    CliError,
    explain_api_error,
    explain_unreachable,
)
from modelguard.cli.kubeconfig import KubeconfigError, Target, discover
from modelguard.core import api

MERGE_PATCH = "application/merge-patch+json"
FIELD_MANAGER = "modelguard-cli"
DEFAULT_TIMEOUT = 30.0

Obj = dict[str, Any]


# --------------------------------------------------------------------------- cluster access


@dataclass
class Session:
    """An API client for the chosen context, and what the kubeconfig says about it."""

    target: Target
    # kubernetes.client.CustomObjectsApi and AuthenticationV1Api; Any because custom
    # objects come back as plain dicts that the client annotates as `object`.
    custom: Any
    authn: Any
    server: str | None
    timeout: float

    def call(self, attempt: Attempt, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one API call, turning every failure into a CliError that explains it."""
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            raise CliError(explain_api_error(exc.status, exc.reason, exc.body, attempt)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise CliError(explain_unreachable(self.server, self.target.context, exc)) from exc

    def get(self, namespace: str, name: str) -> Obj:
        return dict(
            self.call(
                Attempt("get", namespace, name),
                self.custom.get_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                name,
            )
        )

    def list(self, namespace: str | None, selector: str | None) -> list[Obj]:
        kwargs = {"label_selector": selector} if selector else {}
        if namespace is None:
            result = self.call(
                Attempt("list", None),
                self.custom.list_cluster_custom_object,
                api.GROUP,
                api.VERSION,
                api.PLURAL,
                **kwargs,
            )
        else:
            result = self.call(
                Attempt("list", namespace),
                self.custom.list_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                **kwargs,
            )
        return [dict(item) for item in result.get("items", [])]

    def patch(self, namespace: str, name: str, body: Obj) -> Obj:
        return dict(
            self.call(
                Attempt("patch", namespace, name),
                self.custom.patch_namespaced_custom_object,
                api.GROUP,
                api.VERSION,
                namespace,
                api.PLURAL,
                name,
                body,
                # Merge patch: the body only names the fields it changes, and custom
                # resources do not support strategic merge.
                _content_type=MERGE_PATCH,
                # Named in managedFields, so GitOps tools and audits can tell who set what.
                field_manager=FIELD_MANAGER,
            )
        )

    def requester(self) -> str:
        """Who is asking, as the API server knows them; else as the kubeconfig says.

        A SelfSubjectReview (`kubectl auth whoami`) names OIDC and exec-plugin users
        correctly, where the kubeconfig only has a local label. Clusters that do not
        serve it, or forbid it, get the kubeconfig's answer (a certificate's CN).
        """
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            result = self.call(
                Attempt("create", None, None), self.authn.create_self_subject_review, review
            )
        except CliError as exc:
            if isinstance(exc.__cause__, ApiException):
                return self.target.user
            raise
        try:
            username = result.status.user_info.username
        except AttributeError:
            username = None
        return str(username) if username else self.target.user


def connect(args: argparse.Namespace) -> Session:
    try:
        target = discover(
            getattr(args, "kubeconfig", None),
            getattr(args, "context", None),
            getattr(args, "namespace", None),
            os.environ,
        )
        configuration = k8s.Configuration()
        if target.config_files:
            # The kubernetes client's config loaders carry no annotations.
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(target.config_files),
                context=target.context,
                client_configuration=configuration,
                # Never rewrite the user's kubeconfig (token refreshes would do that).
                persist_config=False,
            )
        else:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except KubeconfigError as exc:
        raise CliError(str(exc)) from exc
    except ConfigException as exc:
        raise CliError(f"cannot use the kubeconfig: {' '.join(str(exc).split())}") from exc
    # One pooled connection per parallel request of a fleet-wide kill; the client's default
    # (5 per CPU) would open and drop a connection for each request beyond it.
    parallel = int(getattr(args, "parallel", None) or 1)
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, parallel)
    api_client = k8s.ApiClient(configuration)
    api_client.user_agent = f"modelguard-cli/{__version__}"
    return Session(
        target=target,
        custom=k8s.CustomObjectsApi(api_client),
        authn=k8s.AuthenticationV1Api(api_client),
        server=configuration.host or target.server,
        timeout=float(getattr(args, "request_timeout", None) or DEFAULT_TIMEOUT),
    )


def namespace_scope(args: argparse.Namespace, session: Session) -> str | None:
    """The namespace a listing covers; None for all (-A)."""
    return None if getattr(args, "all_namespaces", False) else session.target.namespace
