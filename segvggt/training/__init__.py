"""Training: the LightningModule, objective, optimiser and run orchestration (Lightning only here)."""
