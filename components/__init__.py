"""ComponentResources of the ChefChatz deployment pipeline, one file each, and the stack settings."""
