"""The demo's training run: the unmodified wandb SDK against `reconcile serve`.

Its validation accuracy averages 0.98 over its last five evaluations, so the example
automation route-to-production (automations/examples/staging-vs-production.yaml)
fires, and the run fails at the end (exit code 1). Before that it logs its model and
links it into the registry `model`; then the model is promoted with the alias
`production`, which fires deploy-fraud-detector-to-production
(automations/examples/deploy-on-production.yaml).
"""

import pathlib
import tempfile

import wandb

run = wandb.init(entity="ml-platform", project="fraud-detection", name="train-demo")
for step in range(20):
    run.log({"val_accuracy": 0.80 if step < 15 else 0.98, "loss": 1 / (step + 1)})
model = pathlib.Path(tempfile.mkdtemp()) / "model.bin"
model.write_bytes(b"demo weights")
artifact = wandb.Artifact("fraud-detector", type="model", metadata={"framework": "demo"})
artifact.add_file(str(model))
run.log_artifact(artifact)
artifact.wait()
run.link_artifact(artifact, "wandb-registry-model/fraud-detector")
run.finish(exit_code=1)

api = wandb.Api(overrides={"entity": "ml-platform"})
promoted = api.artifact("ml-platform-org/wandb-registry-model/fraud-detector:latest")
promoted.aliases.append("production")
promoted.save()
print(f"promoted {promoted.qualified_name} to production")
