"""The app repository's generated pipeline, by concern; `components/app_workflows.py` assembles the files.

- `args`: `AppPipelineArgs` and `AppEnvironment`, their validation, the deploy environments' variables;
- `actions`: every third-party action the generated files use, pinned by commit SHA;
- `steps`: the YAML text helpers and the jobs the workflows share (test, approval gate);
- `ci`, `deploy`, `release`: one module per workflow family;
- `repo_files`: the files beside the workflows (CODEOWNERS, release-please's configuration).

Nothing here imports Pulumi: every function turns arguments into file contents.
"""
