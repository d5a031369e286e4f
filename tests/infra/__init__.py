"""Offline checks of infra/ (Bicep), azure.yaml, the postprovision hook and .funcignore."""
