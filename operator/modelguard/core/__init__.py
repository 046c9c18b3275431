"""Pure core: API models, evaluation, decisions. Imports no kopf, kubernetes or HTTP."""
