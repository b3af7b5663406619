"""Export: what a server holds, written as inventory YAML (`convert`, pure) into a
place where the inventory still validates with it (`destination`), so it can be adopted.
"""
