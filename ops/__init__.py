"""The `chefchatz` operations tool: offline plan, backups, restore drills, TLS checks, rollback, sign-off."""
