"""ComponentResources of the ChefChatz deployment pipeline, one file each, the stack settings, and the
app repository's generated pipeline (`app_workflows`, built from `app_pipeline/`)."""
