#!/usr/bin/env python3
"""Checks Redox cookbook recipes and config fragments against the cookbook's schema.

Usage: recipe_schema.py [--known-dep NAME]... DIR...
  Every recipe.toml under each DIR must parse as TOML and hold only the sections and
  keys the cookbook knows (src/recipe.rs: [source], [build], [package],
  [[optional-packages]]), a valid build template (a "custom" one with a script), a
  BLAKE3 digest for every tar source, and dependencies that name a recipe found under
  the DIRs or a well-known Redox cookbook recipe. Every *.toml under a "config" folder
  is checked as a Redox build config fragment ([packages], [[files]], ...).
Prints one line per problem ("PATH: reason") and exits 1 if there is any.
"""
import argparse
import pathlib
import re
import sys
import tomllib

# Recipes of the Redox cookbook that revm's recipes may depend on. Small on purpose:
# a name outside it and outside this repository is most likely a typo.
REDOX_RECIPES = {
    "qemu", "relibc", "libgcc", "libstdcxx", "zlib", "openssl1", "openssl3", "curl",
    "libsodium", "libarchive", "liborbital", "orbital", "orbutils", "sdl2", "glib",
    "pixman", "libffi", "libiconv", "libpng", "pcre", "gettext", "nghttp2", "mesa",
    "llvm18", "ncurses", "ncursesw", "readline", "expat", "xz", "zstd", "bash",
    "coreutils", "userutils", "ion", "base", "drivers", "kernel", "bootstrap", "initfs",
}

TEMPLATES = {
    "none": set(),
    "remote": set(),
    "cargo": {"package_path", "cargoflags"},
    "configure": {"configureflags"},
    "cmake": {"cmakeflags"},
    "meson": {"mesonflags"},
    "python": set(),
    "custom": {"script"},
}
BUILD_COMMON = {"template", "dependencies", "dev-dependencies"}
SOURCE_FORMS = {
    "path": {"path"},
    "same_as": {"same_as"},
    "git": {"git", "upstream", "branch", "rev", "shallow_clone", "patches", "script"},
    "tar": {"tar", "blake3", "patches", "script"},
}
PACKAGE_KEYS = {"dependencies", "version", "description"}
OPTIONAL_PACKAGE_KEYS = {"name", "dependencies", "files"}
TOP_KEYS = {"source", "build", "package", "optional-packages"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
BLAKE3_RE = re.compile(r"^[0-9a-f]{64}$")

CONFIG_TOP = {"include", "general", "packages", "files", "users", "groups"}
FILE_KEYS = {"path", "data", "symlink", "directory", "mode", "uid", "gid", "recursive_chown"}


class Checker:
    def __init__(self, known):
        self.known = known
        self.problems = []

    def bad(self, path, msg):
        self.problems.append(f"{path}: {msg}")

    def string_list(self, path, where, value):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(path, f"{where}: expected a list of strings")
            return []
        return value

    def deps(self, path, where, value, host_prefix=False):
        for name in self.string_list(path, where, value):
            base = name[len("host:"):] if host_prefix and name.startswith("host:") else name
            if not NAME_RE.match(base):
                self.bad(path, f"{where}: '{name}' is not a recipe name")
            elif base not in self.known and base not in REDOX_RECIPES:
                self.bad(path, f"{where}: '{name}' names no recipe here nor a known Redox recipe")

    def source(self, path, src):
        if not isinstance(src, dict):
            self.bad(path, "[source]: expected a table")
            return
        forms = [f for f in SOURCE_FORMS if f in src]
        if len(forms) != 1:
            self.bad(path, "[source]: exactly one of path, same_as, git, tar")
            return
        form = forms[0]
        for key in src:
            if key not in SOURCE_FORMS[form]:
                self.bad(path, f"[source]: unknown key '{key}' for a {form} source")
        for key in ("path", "same_as", "git", "tar", "upstream", "branch", "rev", "script", "blake3"):
            if key in src and not isinstance(src[key], str):
                self.bad(path, f"[source] {key}: expected a string")
        if "shallow_clone" in src and not isinstance(src["shallow_clone"], bool):
            self.bad(path, "[source] shallow_clone: expected true or false")
        for patch in self.string_list(path, "[source] patches", src.get("patches", [])):
            if not (path.parent / patch).is_file():
                self.bad(path, f"[source] patches: '{patch}' not found beside the recipe")
        if form == "tar":
            digest = src.get("blake3")
            if digest is None:
                self.bad(path, "[source]: a tar source needs blake3")
            elif isinstance(digest, str) and not BLAKE3_RE.match(digest):
                self.bad(path, "[source] blake3: expected 64 lowercase hex digits")
        if form == "same_as" and isinstance(src["same_as"], str):
            if not (path.parent / src["same_as"] / "recipe.toml").is_file():
                self.bad(path, f"[source] same_as: no recipe at '{src['same_as']}'")

    def build(self, path, build):
        if not isinstance(build, dict):
            self.bad(path, "[build]: expected a table")
            return
        template = build.get("template", "none")
        if template not in TEMPLATES:
            self.bad(path, f"[build] template: '{template}' is not one of {', '.join(sorted(TEMPLATES))}")
            return
        for key in build:
            if key not in BUILD_COMMON | TEMPLATES[template]:
                self.bad(path, f"[build]: unknown key '{key}' for template '{template}'")
        if template == "custom":
            script = build.get("script")
            if not isinstance(script, str) or not script.strip():
                self.bad(path, "[build]: template 'custom' needs a non-empty script")
        for key in ("configureflags", "cmakeflags", "mesonflags"):
            if key in build:
                self.string_list(path, f"[build] {key}", build[key])
        for key in ("cargoflags", "package_path"):
            if key in build and not isinstance(build[key], str):
                self.bad(path, f"[build] {key}: expected a string")
        self.deps(path, "[build] dependencies", build.get("dependencies", []))
        self.deps(path, "[build] dev-dependencies", build.get("dev-dependencies", []), host_prefix=True)

    def package(self, path, pkg):
        if not isinstance(pkg, dict):
            self.bad(path, "[package]: expected a table")
            return
        for key in pkg:
            if key not in PACKAGE_KEYS:
                self.bad(path, f"[package]: unknown key '{key}'")
        for key in ("version", "description"):
            if key in pkg and not isinstance(pkg[key], str):
                self.bad(path, f"[package] {key}: expected a string")
        self.deps(path, "[package] dependencies", pkg.get("dependencies", []))

    def recipe(self, path):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            self.bad(path, f"not valid TOML: {e}")
            return
        if not NAME_RE.match(path.parent.name):
            self.bad(path, f"recipe folder '{path.parent.name}' is not a valid package name")
        for key in data:
            if key not in TOP_KEYS:
                self.bad(path, f"unknown section '{key}'")
        if "source" in data:
            self.source(path, data["source"])
        self.build(path, data.get("build", {}))
        self.package(path, data.get("package", {}))
        opts = data.get("optional-packages", [])
        if not isinstance(opts, list):
            self.bad(path, "[[optional-packages]]: expected an array of tables")
            opts = []
        for opt in opts:
            if not isinstance(opt, dict) or "name" not in opt:
                self.bad(path, "[[optional-packages]]: each needs a name")
                continue
            for key in opt:
                if key not in OPTIONAL_PACKAGE_KEYS:
                    self.bad(path, f"[[optional-packages]]: unknown key '{key}'")
            self.deps(path, "[[optional-packages]] dependencies", opt.get("dependencies", []))
            self.string_list(path, "[[optional-packages]] files", opt.get("files", []))

    def config(self, path):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            self.bad(path, f"not valid TOML: {e}")
            return
        for key in data:
            if key not in CONFIG_TOP:
                self.bad(path, f"unknown section '{key}'")
        packages = data.get("packages", {})
        if not isinstance(packages, dict):
            self.bad(path, "[packages]: expected a table")
            packages = {}
        for name, value in packages.items():
            if not isinstance(value, (dict, str)):
                self.bad(path, f"[packages] {name}: expected {{}} or a table")
            if name not in self.known and name not in REDOX_RECIPES:
                self.bad(path, f"[packages] {name}: names no recipe here nor a known Redox recipe")
        files = data.get("files", [])
        if not isinstance(files, list):
            self.bad(path, "[[files]]: expected an array of tables")
            files = []
        for entry in files:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) \
                    or not isinstance(entry.get("data"), str):
                self.bad(path, "[[files]]: each needs a path and data (strings)")
                continue
            for key in entry:
                if key not in FILE_KEYS:
                    self.bad(path, f"[[files]] {entry['path']}: unknown key '{key}'")
            if entry["path"] == "/etc/login_schemes.toml":
                self.login_schemes(path, entry["data"])

    def login_schemes(self, path, text):
        where = "[[files]] /etc/login_schemes.toml"
        try:
            data = tomllib.loads(text)
            users = data["user_schemes"]
            schemes = users["user"]["schemes"]
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
            self.bad(path, f"{where}: not a login_schemes file ({e})")
            return
        if not all(isinstance(s, str) for s in schemes):
            self.bad(path, f"{where}: user schemes must be strings")
        if not any(s.startswith("revm") for s in schemes):
            self.bad(path, f"{where}: the desktop user gets no revm scheme")
        if users.get("root", {}).get("schemes") != ["*"]:
            self.bad(path, f"{where}: root must keep [\"*\"]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--known-dep", action="append", default=[])
    ap.add_argument("dirs", nargs="+", type=pathlib.Path)
    args = ap.parse_args()

    recipes = sorted(p for d in args.dirs for p in d.rglob("recipe.toml"))
    configs = sorted(p for d in args.dirs for p in d.rglob("*.toml")
                     if p.parent.name == "config" and p.name != "recipe.toml")
    known = {p.parent.name for p in recipes} | set(args.known_dep)
    names = [p.parent.name for p in recipes]
    checker = Checker(known)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        checker.bad(dup, "two recipes with this name")
    for path in recipes:
        checker.recipe(path)
    for path in configs:
        checker.config(path)
    for line in checker.problems:
        print(line)
    if checker.problems:
        return 1
    print(f"recipe schema: {len(recipes)} recipes and {len(configs)} config fragments ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
