"""Sign-off: the spec's verification and sign-off checklists as an executable report.

Owns: mapping each checklist item to the evidence that proves it and judging that evidence
(`checks`); `cli` is `chefchatz signoff`.
"""
