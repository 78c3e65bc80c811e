"""`infn-cloud completion bash|zsh`: shell completion scripts.

The scripts are thin: at each TAB they call ``infn-cloud completion --complete -- WORDS...`` (the
words after ``infn-cloud``, the one being completed last), which answers one candidate per line,
computed from the argparse parser itself (commands, options), the catalogue (template names) and
the state store (deployment ids, honouring --state-dir on the line and INFN_CLOUD_STATE_DIR).
A line ``__files__`` asks the shell to add file names (TEMPLATE, -i FILE, ...).
"""

from __future__ import annotations

import argparse
import sys

from infn_cloud.cli.options import ID_DEST

FILES = "__files__"

BASH = r"""# infn-cloud bash completion: source <(infn-cloud completion bash)
_infn_cloud() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line
    local IFS=$'\n'
    COMPREPLY=()
    for line in $(infn-cloud completion --complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null); do
        if [[ "$line" == __files__ ]]; then
            compopt -o filenames 2>/dev/null
            COMPREPLY+=($(compgen -f -- "$cur"))
        else
            COMPREPLY+=("$line")
        fi
    done
}
complete -F _infn_cloud infn-cloud
"""

ZSH = r"""#compdef infn-cloud
# infn-cloud zsh completion: source <(infn-cloud completion zsh) after compinit
_infn_cloud() {
    local -a candidates
    local line files=0
    for line in ${(f)"$(infn-cloud completion --complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)"}; do
        if [[ "$line" == __files__ ]]; then
            files=1
        elif [[ -n "$line" ]]; then
            candidates+=("$line")
        fi
    done
    (( ${#candidates} )) && compadd -- "${candidates[@]}"
    (( files )) && _files
    return 0
}
compdef _infn_cloud infn-cloud
"""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        opt
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for opt in action.option_strings
        if opt.startswith("--") or len(action.option_strings) == 1
    ]


def _takes_value(parser: argparse.ArgumentParser, option: str) -> bool:
    for action in parser._actions:
        if option in action.option_strings:
            return action.nargs != 0
    return False


def _deployment_ids(words: list[str]) -> list[str]:
    import os

    from infn_cloud.state.store import StateStore, default_db_path

    state_dir = None
    for i, word in enumerate(words):
        if word == "--state-dir" and i + 1 < len(words):
            state_dir = os.path.expanduser(words[i + 1])
        elif word.startswith("--state-dir="):
            state_dir = os.path.expanduser(word.split("=", 1)[1])
    path = default_db_path(state_dir)
    if not path.is_file():  # completing must not create a state directory
        return []
    with StateStore(path) as state:
        return [r["id"] for r in state.list()]


def _template_names() -> list[str]:
    from infn_cloud.tosca.catalogue import entries

    return [item["name"] for item in entries()]


def candidates(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """What may come at the last of ``words`` (the words after the program name)."""
    words = list(words) or [""]
    current, before = words[-1], words[:-1]
    commands = _subparsers(parser)
    command = None
    rest: list[str] = []
    for i, word in enumerate(before):
        if word in commands:
            command, rest = word, before[i + 1 :]
            break
    if command is None:
        found = _options(parser) if current.startswith("-") else list(commands)
        return [c for c in found if c.startswith(current)]
    sub = commands[command]
    if rest and rest[-1].startswith("-") and "=" not in rest[-1] and _takes_value(sub, rest[-1]):
        return [FILES] if rest[-1] in ("-i", "--inputs", "--import-map", "--registry") else []
    if current.startswith("-"):
        return [c for c in _options(sub) if c.startswith(current)]
    positionals = [a for a in sub._actions if not a.option_strings and a.help != argparse.SUPPRESS]
    given, skip = 0, False
    for word in rest:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = "=" not in word and _takes_value(sub, word)
        else:
            given += 1
    if given >= len(positionals):
        return []
    action = positionals[given]
    found: list[str]
    if action.dest == "template":
        found = [*_template_names(), FILES]
    elif action.dest == ID_DEST:
        found = _deployment_ids(rest)
    elif action.choices:
        found = [str(c) for c in action.choices]
    else:
        found = [FILES]
    return [c for c in found if c == FILES or c.startswith(current)]


def complete(words: list[str]) -> int:
    """``infn-cloud completion --complete [--] WORDS...`` (called by the scripts at each TAB);
    handled before argparse parses the line, whose words may look like anything."""
    from infn_cloud.cli import build_parser

    if words and words[0] == "--":
        words = words[1:]
    try:
        found = candidates(build_parser(), words)
    except Exception:  # a completion problem must never print a traceback
        found = []
    sys.stdout.write("".join(f"{c}\n" for c in found))
    return 0


def _run(args: argparse.Namespace) -> int:
    sys.stdout.write(BASH if args.shell == "bash" else ZSH)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print the completion script for SHELL. bash: `source <(infn-cloud completion bash)` "
        "(or save it as ~/.local/share/bash-completion/completions/infn-cloud); zsh: "
        "`source <(infn-cloud completion zsh)` after compinit (or save it as _infn-cloud in $fpath). "
        "Completes commands, options, catalogue template names and deployment ids.",
    )
    parser.add_argument("shell", choices=["bash", "zsh"], metavar="SHELL", help="bash or zsh")
    parser.set_defaults(func=_run)
