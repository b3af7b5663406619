"""Stage 1, the inventory: YAML files read safely, parsed with positions, checked against
the JSON Schema and the semantic rules, built into the frozen model (`load.load_inventory`).

yamlsafe -> loader -> schema -> build -> semantics (with credentials, hygiene); `project`
finds the project root that holds the inventory and the embedded server's database.
"""
