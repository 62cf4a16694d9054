"""The plan printed three ways: text for people, JSON for programs, a bash script for auditors.

Every format shows secrets by name only. ``to_json`` is a stable, documented structure
(docs/PLAN-FORMAT.md); ``from_json`` reads it back (the engine stores it as ``plan.json``).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .model import Endpoint, Phase, Plan, Prompt, Step

FORMAT_VERSION = 1


def secret_var(name: str) -> str:
    """The environment variable a ``--format sh`` script reads a secret from."""
    return "TUI_SECRET_" + name.upper()


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "id": step.id, "service": step.service, "phase": step.phase, "name": step.name,
        "description": step.description, "command": step.display, "argv": list(step.argv),
        "shell": step.shell, "env": dict(step.env), "secret_env": dict(step.secret_env), "cwd": step.cwd,
        "timeout": step.timeout, "idle_timeout": step.idle_timeout, "retries": step.retries,
        "retry_delay": step.retry_delay, "checks": {"creates": step.creates, "unless": step.unless},
        "prompts": [{"expect": p.expect, "answer": p.answer, "secret": p.secret} for p in step.prompts],
        "fingerprint": step.fingerprint, "after": list(step.after), "locks": list(step.locks),
        **({"host": step.host} if step.host else {}),
    }


def to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION, "profile": plan.profile, "profile_source": plan.profile_source,
        "services": list(plan.services), "added": dict(plan.added), "settings": dict(plan.settings),
        "secrets": list(plan.secrets),
        "phases": [{"name": p.name, "steps": [_step_json(s) for s in p.steps]} for p in plan.phases],
        "endpoints": [{"service": e.service, "name": e.name, "url": e.url} for e in plan.endpoints],
        **({"inventory": plan.inventory, "hosts": list(plan.hosts),
            "placement": {host: list(services) for host, services in plan.placement.items()},
            **({"choices": dict(plan.choices)} if plan.choices is not None else {})}
           if plan.inventory else {}),
    }


def to_json(plan: Plan) -> str:
    """The plan as indented JSON with a fixed key order (diff-friendly), ending in a newline."""
    return json.dumps(to_dict(plan), indent=2, ensure_ascii=False) + "\n"


def _step_from(data: dict[str, Any]) -> Step:
    return Step(
        id=data["id"], service=data["service"], phase=data["phase"], name=data["name"],
        argv=tuple(data["argv"]), shell=data.get("shell"), env=dict(data["env"]),
        secret_env=dict(data["secret_env"]), cwd=data["cwd"], timeout=data["timeout"],
        idle_timeout=data.get("idle_timeout"), retries=data["retries"],
        retry_delay=data.get("retry_delay", 0.0), creates=data["checks"]["creates"],
        unless=data["checks"]["unless"], prompts=tuple(Prompt(**p) for p in data["prompts"]),
        description=data.get("description", ""), fingerprint=data["fingerprint"], host=data.get("host"),
        after=tuple(data.get("after", ())), locks=tuple(data.get("locks", ())))


def from_json(text: str) -> Plan:
    """Read back what ``to_json`` wrote (for resume and attach); a newer format is refused."""
    data = json.loads(text)
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported plan format {data.get('format')!r}")
    return Plan(profile=data["profile"], profile_source=data.get("profile_source", ""),
                services=tuple(data["services"]), added=dict(data["added"]),
                settings=dict(data["settings"]), secrets=tuple(data["secrets"]),
                phases=tuple(Phase(p["name"], tuple(_step_from(s) for s in p["steps"]))
                             for p in data["phases"]),
                endpoints=tuple(Endpoint(**e) for e in data.get("endpoints", [])),
                inventory=data.get("inventory"), hosts=tuple(data.get("hosts", ())),
                placement={h: tuple(s) for h, s in (data.get("placement") or {}).items()},
                choices=dict(data["choices"]) if isinstance(data.get("choices"), dict) else None)


def to_text(plan: Plan) -> str:
    """A readable listing: what is installed and why, then every step with its command and checks."""
    lines = [f"Profile: {plan.profile}" + (f" ({plan.profile_source})" if plan.profile_source else ""),
             "Services: " + ", ".join(plan.services)]
    lines += [f"  added {name}: {why}" for name, why in plan.added.items()]
    if plan.inventory:
        lines.append(f"Hosts ({plan.inventory}):")
        lines += [f"  {host}: " + ", ".join(plan.placement.get(host, ())) for host in plan.hosts]
    lines.append("Secrets: " + (", ".join(plan.secrets) or "none"))
    lines.append("Settings:")
    lines += [f"  {k} = {v!r}" for k, v in sorted(plan.settings.items())]
    for phase in plan.phases:
        lines.append(f"\n[{phase.name}]")
        for step in phase.steps:
            lines += _step_text(step)
    return "\n".join(lines) + "\n"


def _step_text(step: Step) -> list[str]:
    lines = [f"  {step.id}" + (f"  -- {step.description}" if step.description else "")]
    command = step.display.splitlines() or [""]
    lines.append(f"      $ {command[0]}")
    lines += [f"        {more}" for more in command[1:]]
    extras = [f"env {k}={v}" for k, v in step.env.items()]
    extras += [f"env {k}=<secret:{v}>" for k, v in step.secret_env.items()]
    extras += [f"cwd {step.cwd}"] if step.cwd else []
    extras += [f"creates {step.creates}"] if step.creates else []
    extras += [f"unless {step.unless}"] if step.unless else []
    extras += [f"prompt /{p.expect}/ -> " + (f"<secret:{p.secret}>" if p.secret else repr(p.answer))
               for p in step.prompts]
    if step.timeout or step.retries:
        extras.append(f"timeout {step.timeout or '-'}s, retries {step.retries}")
    extras += [f"waits for {', '.join(step.after)}"] if step.after else []
    extras += [f"holds {', '.join(step.locks)} (one step at a time)"] if step.locks else []
    return lines + [f"      {extra}" for extra in extras]


_SH_HEAD = r'''#!/usr/bin/env bash
# Plan of profile {profile}, exported by `tui-installer plan --format sh`.
# Audit it, then run it as root. Secrets are never in this file: export them first:
{secret_doc}
# Steps whose `creates` path exists or whose `unless` command succeeds are skipped, as in the installer.
# Prompts are answered by writing the answers, in order, to the step's standard input: a program that
# reads its answer from /dev/tty rather than stdin will not get it. Idle timeouts are not applied.
set -euo pipefail
{secret_checks}

run_step() {{  # run_step ID CREATES CHECK_FUNCTION RETRIES DELAY FUNCTION
  local id=$1 creates=$2 check=$3 retries=$4 delay=$5 fn=$6 attempt=0
  if [[ -n $creates && -e $creates ]]; then echo "--- skip $id ($creates exists)"; return 0; fi
  if [[ -n $check ]] && "$check"; then
    echo "--- skip $id (already done)"; return 0
  fi
  echo "==> $id"
  until "$fn"; do
    attempt=$((attempt + 1))
    if (( attempt > retries )); then echo "!!! $id failed" >&2; return 1; fi
    echo "--- retry $id ($attempt/$retries) in ${{delay}}s"; sleep "$delay"
  done
}}
'''


def _sh_setup(step: Step) -> list[str]:
    """What the step and its ``unless`` check share: the working directory and the plain env."""
    lines = [f"cd -- {shlex.quote(step.cwd)} || exit 1"] if step.cwd else []
    return lines + [f"export {k}={shlex.quote(v)}" for k, v in step.env.items()]


def _sh_functions(fn: str, step: Step) -> list[str]:
    """The step as a function running in a subshell, and ``FN_done`` for its ``unless`` check."""
    body = _sh_setup(step) + [f'export {k}="${secret_var(v)}"' for k, v in step.secret_env.items()]
    command = shlex.join(step.argv)
    if step.timeout:
        command = f"timeout {step.timeout:g} {command}"
    if step.prompts:
        answers = " ".join(f'"${secret_var(p.secret)}"' if p.secret else shlex.quote(p.answer or "")
                           for p in step.prompts)
        command = f"{{ printf '%s\\n' {answers} || true; }} | {command}"
    lines = [f"{fn}() {{  # {step.id}" + (f": {step.description}" if step.description else ""), "  ("]
    lines += [f"    {line}" for line in body + [command]] + ["  )", "}"]
    if step.unless:
        check = _sh_setup(step) + [f"bash -c {shlex.quote(step.unless)}"]
        lines += [f"{fn}_done() {{", "  ("] + [f"    {line}" for line in check]
        lines += ["  ) >/dev/null 2>&1", "}"]
    return lines


def to_sh(plan: Plan) -> str:
    """A standalone bash script that runs the plan: same order, checks and retries; secrets from env.

    It runs one step at a time, in the plan's order, which puts every step after what it waits for
    (``plan.graph``): the serial baseline of the parallel engine."""
    secret_doc = "\n".join(f"#   {secret_var(s)}  (secret {s})" for s in plan.secrets) or "#   (none)"
    checks = "\n".join(f': "${{{secret_var(s)}:?export {secret_var(s)} (secret {s}) first}}"'
                       for s in plan.secrets)
    out = [_SH_HEAD.format(profile=plan.profile, secret_doc=secret_doc, secret_checks=checks)]
    for phase in plan.phases:
        out.append(f"\n# ===== phase {phase.name}\necho '=== {phase.name}'")
        for index, step in enumerate(phase.steps):
            fn = f"step_{re.sub(r'[^A-Za-z0-9_]', '_', step.id)}_{index}"
            out.append("\n".join(_sh_functions(fn, step)))
            args = [step.id, step.creates or "", f"{fn}_done" if step.unless else "", str(step.retries),
                    f"{step.retry_delay:g}", fn]
            out.append("run_step " + " ".join(shlex.quote(a) for a in args))
    out.append("\necho '=== done'")
    return "\n".join(out) + "\n"
