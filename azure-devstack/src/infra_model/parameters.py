"""main.parameters.json as azd resolves it: `${VAR}` and `${VAR=default}` from the azd environment.

azd substitutes environment values into the file's strings ("azd environment variables", the
parameters file), then ARM converts each string to the type the Bicep param declares. The local stack
deploys with the same file, so the values a user sets for `azd up` (`azd env set NAME VALUE`)
or leaves at their defaults are the values it serves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra_model.syntax import Infra

PARAMETERS_FILE = "main.parameters.json"
_REFERENCE = re.compile(r"\$\{(\w+)(?:=([^}]*))?\}")


def azd_parameters(infra_dir: Path, environment: Mapping[str, str]) -> dict[str, Any]:
    """Every param the file sets whose variables the environment (or a default) supplies, typed as
    main.bicep declares it. A param whose variable is unset and has no default is left out, as azd
    would leave it for a prompt."""
    path = infra_dir / PARAMETERS_FILE
    if not path.exists():
        return {}
    entries: dict[str, Any] = json.loads(path.read_text()).get("parameters", {})
    types = {name: param.type for name, param in Infra(infra_dir).main.params.items()}
    resolved: dict[str, Any] = {}
    for name, entry in entries.items():
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str):
            if value is not None:
                resolved[name] = value
            continue
        text = _substitute(value, environment)
        if text is not None:
            resolved[name] = _typed(text, types.get(name, "string"))
    return resolved


def _substitute(value: str, environment: Mapping[str, str]) -> str | None:
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        found = environment.get(match.group(1), match.group(2))
        if found is None:
            missing = True
            return ""
        return found

    text = _REFERENCE.sub(replace, value)
    return None if missing else text


def _typed(text: str, bicep_type: str) -> Any:
    if bicep_type == "bool":
        return text.strip().lower() == "true"
    if bicep_type == "int":
        return int(text)
    if bicep_type in ("array", "object"):
        return json.loads(text)
    return text
