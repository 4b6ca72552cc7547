"""Built-in checks, one module each. Installed as ``qa.checks``; found through entry points."""
