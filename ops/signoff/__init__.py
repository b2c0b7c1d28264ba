"""Sign-off: the spec's verification and sign-off checklists as an executable report.

Owns: mapping each checklist item to the evidence that proves it (`checks`) and judging that
evidence, one module per kind (`plans`, `pipeline`, `migrations`, `drift`, `recovery`, `domains`,
`documentation`, sharing `evidence`); `report` renders the verdict; `cli` is `chefchatz signoff`.
"""
