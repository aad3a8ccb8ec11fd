#!/usr/bin/env python3
"""Checks the man pages against the code.

  check_man.py TIERMEM_BINARY SOURCE_DIR PAGE...

- Every option the command accepts (parsed from `tiermem --help` and `tiermem SUB --help` for
  each subcommand the top-level help lists) is documented in tiermem(1): in the subcommand's
  ".SS tiermem SUB" section, or in GLOBAL OPTIONS.
- Every option tiermem(1) documents (a bold -x or --long in the term of a .TP definition)
  exists in the CLI, where the page documents it; every ".SS tiermem SUB" names a subcommand.
- Every TIERMEM_* variable the code reads (a getenv/secure_getenv of the literal name under
  SOURCE_DIR/src) appears in the ENVIRONMENT section of a page, and every TIERMEM_* variable an
  ENVIRONMENT section names is read by the code.

An option is documented where it is defined, not where prose mentions it: the bold names of
the terms of definition lists (.TP), whichever macros or font escapes wrote the bold. Every
mismatch is printed with the exact names; the exit
status is 1 when there is one.
"""
import pathlib
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")
VARIABLE = re.compile(r"TIERMEM_[A-Z0-9_]*[A-Z0-9]")
GETENV = re.compile(r'getenv\s*\(\s*"(TIERMEM_[A-Z0-9_]+)"')


def run_help(binary, args):
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"check_man: `{binary} {' '.join(args)} --help` exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def help_options(text):
    """-x/--long names from CLI11's option lines: the name column, before the description."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"^  (-\S.*)$", line)  # a name column; wrapped descriptions sit deeper
        if not m:
            continue
        column = re.split(r"\s{2,}", m.group(1))[0]
        names.update(OPTION.findall(column))
    return names


def help_subcommands(text):
    subs, inside = [], False
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:\s*$", line):
            inside = line.strip().rstrip(":").upper() == "SUBCOMMANDS"
            continue
        m = re.match(r"^  ([a-z][a-z0-9-]*)(\s|$)", line)
        if inside and m:
            subs.append(m.group(1))
    return subs


def roff_args(text):
    """A macro line's arguments: words, or "quoted strings" with "" for a quote."""
    args, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
        elif text[i] == '"':
            j, arg = i + 1, []
            while j < len(text):
                if text[j] == '"' and text[j + 1:j + 2] == '"':
                    arg.append('"')
                    j += 2
                elif text[j] == '"':
                    j += 1
                    break
                else:
                    arg.append(text[j])
                    j += 1
            args.append("".join(arg))
            i = j
        else:
            j = text.find(" ", i)
            j = len(text) if j < 0 else j
            args.append(text[i:j])
            i = j
    return args


def bold_runs(line):
    """The bold text of one roff line: the bold arguments of .B/.BR/.BI/.RB/.IB, and
    \\fB...\\fR spans; escapes such as \\- resolved."""
    runs = []
    m = re.match(r"^\.(B|BR|BI|RB|IB|IR|RI|I)(\s+(.*))?$", line)
    if m:
        macro, args = m.group(1), roff_args(m.group(3) or "")
        for k, arg in enumerate(args):
            font = macro[k % len(macro)]
            if font == "B":
                runs.append(arg)
            else:
                runs.extend(re.findall(r"\\fB(.*?)(?:\\f[RIP]|$)", arg))
    elif not line.startswith("."):
        runs.extend(re.findall(r"\\fB(.*?)(?:\\f[RIP]|$)", line))
    return [unescape(r) for r in runs]


def unescape(text):
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-").replace("\\(em", "-").replace("\\e", "\\").replace("\\&", "")


def page_lines(page):
    """(section, subsection, line, is_tag) for every line of a page's roff source; a tag is the
    line after .TP: the term a definition list defines."""
    sec, sub, after_tp = "", "", False
    for line in page.read_text().splitlines():
        if line.startswith(".SH"):
            sec, sub = unescape(" ".join(roff_args(line[3:]))), ""
            continue
        if line.startswith(".SS"):
            sub = unescape(" ".join(roff_args(line[3:])))
            continue
        if line.startswith(".TP"):
            after_tp = True
            continue
        yield sec, sub, line, after_tp
        after_tp = False


def main():
    binary, source_dir, pages = sys.argv[1], pathlib.Path(sys.argv[2]), [pathlib.Path(p) for p in sys.argv[3:]]
    problems = []

    # --- the CLI's options, per subcommand ("" is the top level) ---
    top = run_help(binary, [])
    cli = {"": help_options(top)}
    for sub in help_subcommands(top):
        cli[sub] = help_options(run_help(binary, [sub]))
    if len(cli) < 2:
        problems.append("`tiermem --help` lists no subcommands: the parser of its help is out of date")

    # --- what tiermem(1) documents, per ".SS tiermem SUB" and GLOBAL OPTIONS ---
    page1 = next((p for p in pages if p.name.startswith("tiermem.1")), None)
    if page1 is None:
        sys.exit("check_man: no tiermem.1 among the pages")
    documented = {}
    for sec, sub, line, is_tag in page_lines(page1):
        if sec == "GLOBAL OPTIONS":
            key = ""
        elif sec == "COMMANDS" and sub.startswith("tiermem "):
            key = sub.split()[1]
        else:
            continue
        documented.setdefault(key, set())
        if not is_tag:
            continue
        for run in bold_runs(line):
            documented[key].update(OPTION.findall(run))

    for sub, names in sorted(cli.items()):
        where = f"`tiermem {sub}`" if sub else "`tiermem`"
        if sub and sub not in documented:
            problems.append(f"tiermem.1 has no section \"tiermem {sub}\" for the subcommand {sub}")
            continue
        missing = sorted(n for n in names if n not in documented.get(sub, set()) | documented.get("", set()))
        if missing:
            problems.append(f"{where} accepts options tiermem.1 does not document: {' '.join(missing)}")
    for sub, names in sorted(documented.items()):
        if sub not in cli:
            problems.append(f"tiermem.1 documents a subcommand the CLI lacks: {sub}"
                            + (f" (with options {' '.join(sorted(names))})" if names else ""))
            continue
        extra = sorted(n for n in names if n not in cli[sub])
        if extra:
            where = f"\"tiermem {sub}\"" if sub else "GLOBAL OPTIONS"
            problems.append(f"tiermem.1 ({where}) documents options the CLI lacks: {' '.join(extra)}")

    # --- TIERMEM_* variables ---
    read = set()
    for f in (source_dir / "src").rglob("*"):
        if f.suffix in {".c", ".cc", ".cpp", ".h", ".hpp"}:
            read.update(GETENV.findall(f.read_text(errors="replace")))
    if not read:
        problems.append(f"no getenv(\"TIERMEM_...\") found under {source_dir / 'src'}: wrong source dir?")
    in_env = {}
    for page in pages:
        for sec, _sub, line, _is_tag in page_lines(page):
            if sec == "ENVIRONMENT" and not line.startswith('.\\"'):
                for v in VARIABLE.findall(unescape(line)):
                    in_env.setdefault(v, set()).add(page.name)
    for v in sorted(read - in_env.keys()):
        problems.append(f"the code reads {v}, which no page's ENVIRONMENT section documents")
    for v in sorted(in_env.keys() - read):
        problems.append(f"{', '.join(sorted(in_env[v]))} documents {v} in ENVIRONMENT, which the code under src/ never reads")

    for p in problems:
        print(p)
    counted = sum(len(v) for v in cli.values())
    print(f"check_man: {len(cli) - 1} subcommands, {counted} options, {len(read)} variables; "
          f"{len(problems)} mismatch{'es' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
