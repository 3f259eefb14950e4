"""Check the built docs site (make docs) against the collection's own documentation.

    python tests/publish/check_docs.py build/docs/html

Each module page must have its Parameters, Examples and Return Values sections, an entry for every
option (fragments and suboptions included) and every documented return value (nested ones
included), and the name of every example task. The role page must list every variable of
meta/argument_specs.yml, each filter plugin must have a page, and every extra doc of
docs/docsite/extra-docs.yml must be built. The expected content comes from `ansible-doc --json`, so
it is what ansible-doc shows users.
"""

from __future__ import annotations

import html.parser
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = "servicemesh.asm"


class Page(html.parser.HTMLParser):
    """Element ids and visible text of an HTML page."""

    def __init__(self, path):
        super().__init__()
        self.ids, self.text = set(), []
        with open(path, encoding="utf-8") as fh:
            self.feed(fh.read())
        self.text = " ".join("".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)

    def handle_data(self, data):
        self.text.append(data)


def ansible_doc(plugin_type, names):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"))
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-doc")  # the venv's, under make or not
    tool = beside if os.path.exists(beside) else "ansible-doc"
    out = subprocess.run([tool, "--json", "-t", plugin_type] + names, check=True, env=env,
                         capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out)


def paths(entries, key, prefix=""):
    """'a', 'a/b', ... for options (suboptions) or return values (contains)."""
    for name, spec in (entries or {}).items():
        yield prefix + name
        yield from paths((spec or {}).get(key), key, prefix + name + "/")


def plugin_names(subdir, exts):
    folder = os.path.join(ROOT, "plugins", subdir)
    return sorted(os.path.splitext(f)[0] for f in os.listdir(folder)
                  if f.endswith(exts) and not f.startswith("_") and f != "__init__.py")


def check_module(site, fqcn, data, problems):
    short = fqcn.split(".")[-1]
    path = os.path.join(site, "collections", "servicemesh", "asm", short + "_module.html")
    if not os.path.exists(path):
        problems.append("%s: no page %s" % (fqcn, path))
        return 0
    page = Page(path)
    for section in ("parameters", "examples", "return-values"):
        if section not in page.ids:
            problems.append("%s: section %r missing" % (fqcn, section))
    options = list(paths(data["doc"].get("options"), "suboptions"))
    returns = list(paths(data.get("return"), "contains"))
    for option in options:
        if "parameter-" + option not in page.ids:
            problems.append("%s: option %s missing" % (fqcn, option))
    for key in returns:
        if "return-" + key not in page.ids:
            problems.append("%s: return value %s missing" % (fqcn, key))
    examples = yaml.safe_load(data.get("examples") or "") or []
    if not examples:
        problems.append("%s: no EXAMPLES" % fqcn)
    for task in examples:
        if " ".join(task["name"].split()) not in page.text:
            problems.append("%s: example %r missing" % (fqcn, task["name"]))
    if not options or not returns:
        problems.append("%s: documentation has no options or no return values" % fqcn)
    return len(options) + len(returns) + len(examples)


def main(site):
    problems, checked = [], 0
    modules = ["%s.%s" % (COLLECTION, m) for m in plugin_names("modules", (".py",))]
    for fqcn, data in sorted(ansible_doc("module", modules).items()):
        checked += check_module(site, fqcn, data, problems)
    base = os.path.join(site, "collections", "servicemesh", "asm")
    for name in sorted(set(plugin_names("filter", (".yml", ".yaml")))):
        if not os.path.exists(os.path.join(base, name + "_filter.html")):
            problems.append("filter %s: no page" % name)
    role = os.path.join(base, "sidecar_injection_role.html")
    with open(os.path.join(ROOT, "roles", "sidecar_injection", "meta", "argument_specs.yml")) as fh:
        specs = yaml.safe_load(fh)["argument_specs"]
    page = Page(role) if os.path.exists(role) else None
    for entry, spec in specs.items():
        for option in paths(spec.get("options"), "options"):
            checked += 1
            if page is None or "parameter-%s--%s" % (entry, option) not in page.ids:
                problems.append("role sidecar_injection: variable %s (%s) missing" % (option, entry))
    with open(os.path.join(ROOT, "docs", "docsite", "extra-docs.yml")) as fh:
        extra = yaml.safe_load(fh)
    for section in extra.get("sections") or []:
        for doc in section.get("toctree") or []:
            if not os.path.exists(os.path.join(base, "docsite", doc + ".html")):
                problems.append("extra doc %s: no page" % doc)
    for problem in problems:
        print("check_docs: " + problem, file=sys.stderr)
    if problems:
        return 1
    print("check_docs: %d modules, their options, return values and examples, the role's variables, filters and "
          "extra docs are all on the site (%d entries checked)" % (len(modules), checked))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "docs", "html")))
