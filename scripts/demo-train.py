"""The demo's training run: the unmodified wandb SDK against `reconcile serve`.

Its validation accuracy averages 0.98 over its last five evaluations, so the example
automation route-to-production (automations/examples/staging-vs-production.yaml)
fires, and the run fails at the end (exit code 1).
"""

import wandb

run = wandb.init(entity="ml-platform", project="fraud-detection", name="train-demo")
for step in range(20):
    run.log({"val_accuracy": 0.80 if step < 15 else 0.98, "loss": 1 / (step + 1)})
run.finish(exit_code=1)
