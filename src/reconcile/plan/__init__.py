"""Stage 2, the plan: both sides normalized, compared by identity then fields, into a Plan
value with its JSON form and fingerprint (`compute`); `reviewed` says how a live plan
differs from the reviewed one. Pure: no network, no disk.
"""
