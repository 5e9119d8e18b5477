"""argparse dressed as click (which the real CLI uses): the same usage-error shape and exit code 2,
no abbreviated long options, and the real CLI's table and JSON output.
"""
import argparse
import json
import sys


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # click matches long options exactly
        super().__init__(*args, **kwargs)

    def error(self, message):
        usage = self.format_usage().strip().replace("usage: ", "Usage: ", 1)
        sys.stderr.write("%s\nTry '%s -h' for help.\n\nError: %s\n" % (usage, self.prog, message))
        sys.exit(2)


def common_options():
    """Options every cfy command takes."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="output in JSON")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def tenant_options(all_tenants=True):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-t", "--tenant-name", help="the tenant (default: the profile's)")
    if all_tenants:
        p.add_argument("-a", "--all-tenants", action="store_true")
    return p


def subcommands(parser, title="COMMAND"):
    sub = parser.add_subparsers(dest="_" + parser.prog.replace(" ", "_"), metavar=title, parser_class=Parser)
    sub.required = True
    return sub


def add(sub, name, handler, parents=(), help=None):
    p = sub.add_parser(name, parents=[common_options(), *parents], help=help)
    p.set_defaults(handler=handler)
    return p


def table(columns, rows, title=None):
    """The real CLI's tables (prettytable): a ruled box, one row per item."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [] if title is None else ["", title + ":"]
    out += [rule, "|" + "|".join(" %s " % c.center(w) for c, w in zip(columns, widths)) + "|", rule]
    out += ["|" + "|".join(" %s " % v.ljust(w) for v, w in zip(row, widths)) + "|" for row in cells]
    out.append(rule)
    print("\n".join(out))


def print_json(value):
    print(json.dumps(value, indent=2, sort_keys=True))


def listing(args, columns, rows, title):
    """`list` commands: JSON array with --json, else a table."""
    if args.json:
        print_json(rows)
    else:
        table(columns, rows, title)
