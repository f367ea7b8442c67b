#!/usr/bin/env python3
"""Build api/model.json from the official Python SDK's generated sources.

The databricks-sdk package is generated from Databricks' API description; its
dataclasses, enums and `self._api.do(...)` calls are the API's facts. This
script reads them with `ast` (it never imports or runs the SDK) and writes a
language-neutral model: packages, services, operations (method, path,
path/query/body parameters, request and response types, pagination, waiters),
types and enums. No documentation prose is carried over; each operation links
to its public API reference page instead.

Usage: python3 api/build_model.py [SDK_DIR] > api/model.json
SDK_DIR defaults to the installed `databricks/sdk` of the pinned version.
"""

import ast
import json
import re
import sys
from pathlib import Path

PINNED = "0.162.0"
PRIMITIVES = {"str": "string", "int": "int64", "float": "double", "bool": "boolean", "Any": "any", "dict": "any",
              "Timestamp": "timestamp", "Duration": "duration", "FieldMask": "field_mask", "BinaryIO": "binary"}


def sdk_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    import importlib.util
    spec = importlib.util.find_spec("databricks.sdk")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("databricks-sdk is not installed: pip install databricks-sdk==" + PINNED)
    return Path(list(spec.submodule_search_locations)[0])


def sdk_version(root: Path) -> str:
    text = (root / "version.py").read_text()
    return re.search(r'"([^"]+)"', text).group(1)


def type_of(node, pkg: str) -> dict:
    """A type reference from an annotation."""
    if node is None:
        return {"kind": "any"}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return type_of(ast.parse(node.value, mode="eval").body, pkg)
    if isinstance(node, ast.Name):
        if node.id in PRIMITIVES:
            return {"kind": PRIMITIVES[node.id]}
        return {"kind": "ref", "package": pkg, "name": node.id}
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return {"kind": "ref", "package": node.value.id, "name": node.attr}
    if isinstance(node, ast.Subscript):
        outer = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        inner = node.slice
        if outer == "Optional":
            return type_of(inner, pkg)
        if outer in ("List", "Iterator"):
            return {"kind": "list" if outer == "List" else "iterator", "items": type_of(inner, pkg)}
        if outer == "Dict":
            return {"kind": "map", "values": type_of(inner.elts[1], pkg)}
        if outer == "Wait":
            return {"kind": "wait", "result": type_of(inner, pkg)}
    return {"kind": "any"}


def first_string(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            return sub.value
    return None


def is_dataclass(cls: ast.ClassDef) -> bool:
    return any(getattr(d, "id", None) == "dataclass" for d in cls.decorator_list)


def is_enum(cls: ast.ClassDef) -> bool:
    return any(getattr(b, "id", None) == "Enum" for b in cls.bases)


def extract_enum(cls):
    values = []
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
            values.append({"name": stmt.targets[0].id, "wire": stmt.value.value})
    return {"name": cls.name, "values": values}


def extract_type(cls, pkg):
    wire = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "from_dict":
            for call in ast.walk(stmt):
                if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "cls":
                    for kw in call.keywords:
                        wire[kw.arg] = first_string(kw.value)
    fields = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            fields.append({
                "name": name,
                "wire": wire.get(name) or name,
                "type": type_of(stmt.annotation, pkg),
                "required": stmt.value is None,
            })
    return {"name": cls.name, "fields": fields}


def subscript_key(node):
    """`query["x"]` -> ("query", "x")."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        key = node.slice
        if isinstance(key, ast.Constant):
            return node.value.id, key.value
    return None


def param_names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def find_do_call(fn):
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "do":
            if isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "_api":
                return node
    return None


def path_of(node):
    """Path template and its parameters from a string or f-string."""
    if isinstance(node, ast.Constant):
        return node.value, []
    if isinstance(node, ast.JoinedStr):
        parts, params = [], []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(v.value)
            elif isinstance(v, ast.FormattedValue):
                expr = v.value
                # `{_escape_multi_segment_path_parameter(x)}`: an absolute path embedded as-is.
                if isinstance(expr, ast.Call) and expr.args:
                    expr = expr.args[0]
                name = ast.unparse(expr)
                name = name.replace("self._api.account_id", "account_id")
                parts.append("{" + name + "}")
                params.append(name)
        return "".join(parts), params
    return ast.unparse(node), []


def extract_pagination(fn):
    loops = [n for n in ast.walk(fn) if isinstance(n, ast.While)]
    items, token_in, token_req, token_resp, style = None, None, None, None, None
    for node in ast.walk(fn):
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) and isinstance(node.left, ast.Constant):
            if isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == "json" and items is None:
                items = node.left.value
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            tk, vk = subscript_key(target), subscript_key(value)
            if tk and vk and vk[0] == "json":
                style, token_in, token_req, token_resp = "token", tk[0], tk[1], vk[1]
            if isinstance(target, ast.Name) and target.id == "body" and vk and vk[0] == "json":
                style, token_resp = "next_request", vk[1]
        if isinstance(node, ast.AugAssign) and subscript_key(node.target):
            style, token_in, token_req = "offset", subscript_key(node.target)[0], subscript_key(node.target)[1]
    if loops:
        return {"style": style or "single_page", "items": items, "in": token_in,
                "request_field": token_req, "response_field": token_resp}
    # Single page: `X.from_dict(json).items`.
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call):
            if getattr(node.value.func, "attr", None) == "from_dict":
                return {"style": "single_page", "items": node.attr, "in": None, "request_field": None, "response_field": None}
    return {"style": "single_page", "items": None, "in": None, "request_field": None, "response_field": None}


def extract_waiter(fn):
    """Target/failure states, the polled getter and the status path of a wait_* method."""
    def states(name):
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
                elts = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                # `State.RUNNING`: resolved to the wire value once enums are known.
                return [{"enum": ast.unparse(e.value), "member": e.attr} for e in elts if isinstance(e, ast.Attribute)]
        return []
    poll, status_path, message_path = None, None, None
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "poll" and isinstance(node.value, ast.Call):
                poll = {"method": node.value.func.attr, "args": {k.arg: ast.unparse(k.value) for k in node.value.keywords}}
            if name in ("status", "status_message") and isinstance(node.value, ast.Attribute):
                chain = ast.unparse(node.value).split(".")
                if chain[0] == "poll":
                    if name == "status":
                        status_path = chain[1:]
                    else:
                        message_path = chain[1:]
    args = [a.arg for a in fn.args.args[1:] + fn.args.kwonlyargs if a.arg not in ("timeout", "callback")]
    return {"name": fn.name, "args": args, "poll": poll, "target": states("target_states"),
            "failure": states("failure_states"), "status_path": status_path, "message_path": message_path}


def response_header_names(fn, node):
    """Header names passed as `response_headers=[...]` or as a variable assigned a list."""
    if isinstance(node, ast.Name):
        name = node.id
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == name:
                node = n.value
    return [e.value for e in getattr(node, "elts", []) if isinstance(e, ast.Constant)]


def extract_operation(fn, pkg, waiters, service_doc):
    do = find_do_call(fn)
    # Data-plane calls go to a URL obtained at run time, not a workspace path.
    if do is None or len(do.args) < 2:
        return None
    method = do.args[0].value
    path, path_params = path_of(do.args[1])
    kwargs = {k.arg: k.value for k in do.keywords}
    params = []
    annotations = {a.arg: (a, d) for a, d in zip(fn.args.args[1:], [None] * len(fn.args.args[1:]))}
    defaults = dict(zip([a.arg for a in fn.args.kwonlyargs], fn.args.kw_defaults))
    all_args = fn.args.args[1:] + fn.args.kwonlyargs
    required = {a.arg for a in fn.args.args[1:]}
    required |= {name for name, d in defaults.items() if d is None}
    locations = {}
    whole_body = None
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            key = subscript_key(node.targets[0])
            used = param_names(node.value) & {a.arg for a in all_args}
            if key and key[0] in ("query", "body") and used:
                locations[sorted(used)[0]] = (key[0], key[1])
            if isinstance(node.targets[0], ast.Name) and node.targets[0].id == "body" and used:
                whole_body = sorted(used)[0]
    for a in all_args:
        name = a.arg
        if name in ("timeout", "callback"):
            continue
        if name in path_params:
            loc, wire = "path", name
        elif name == whole_body:
            loc, wire = "body_whole", name
        elif name in locations:
            loc, wire = locations[name]
        elif "data" in kwargs and ast.unparse(kwargs["data"]) == name:
            loc, wire = "raw_body", name
        else:
            loc, wire = "body", name
        params.append({"name": name, "wire": wire, "in": loc, "type": type_of(a.annotation, pkg),
                       "required": name in required})
    headers = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "headers" and isinstance(node.value, ast.Dict):
            headers = {k.value: v.value for k, v in zip(node.value.keys, node.value.values) if isinstance(v, ast.Constant)}
    returns = type_of(fn.returns, pkg) if fn.returns is not None else None
    op = {
        "name": fn.name.rstrip("_"),
        "python_name": fn.name,
        "method": method,
        "path": path,
        "params": params,
        "headers": headers,
        "raw_response": isinstance(kwargs.get("raw"), ast.Constant) and kwargs["raw"].value is True,
        "response_headers": response_header_names(fn, kwargs.get("response_headers")),
        "returns": returns,
        "pagination": extract_pagination(fn) if returns and returns["kind"] == "iterator" else None,
        "waiter": None,
        "wait_response": None,
        "docs_url": f"{service_doc}/{fn.name.rstrip('_').replace('_', '')}",
    }
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Wait":
            waiter_name = node.args[0].attr
            bind = {}
            response_type = None
            for kw in node.keywords:
                if kw.arg == "response":
                    call = kw.value
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                        response_type = type_of(call.func.value, pkg)
                    continue
                vk = subscript_key(kw.value)
                bind[kw.arg] = {"from": "response", "field": vk[1]} if vk else {"from": "request", "field": ast.unparse(kw.value)}
            op["waiter"] = dict(waiters.get(waiter_name, {"name": waiter_name}), bind=bind)
            op["wait_response"] = response_type
    return op


def lro_classes(tree, pkg: str) -> dict:
    """`XOperation` handles of long-running calls: the type `wait()` returns
    and the service method that polls the operation by name."""
    found = {}
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("Operation")):
            continue
        wait = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "wait"), None)
        if wait is None:
            continue
        poll = None
        for node in ast.walk(wait):
            func = getattr(node, "func", None)
            if isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and ast.unparse(func.value) == "self._impl":
                poll = func.attr
                break
        if poll is None:
            continue
        result = None if wait.returns is None or ast.unparse(wait.returns) == "None" else type_of(wait.returns, pkg)
        found[cls.name] = {"poll": poll, "result": result}
    return found


def service_name(cls_name: str) -> str:
    base = cls_name[: -len("API")]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", base).lower()


def ext_classes(root: Path):
    """Hand-written `XExt(pkg.XAPI)` mixins -> the API class they extend."""
    defined_in = {}
    for path in (root / "service").glob("*.py"):
        for cls in ast.parse(path.read_text()).body:
            if isinstance(cls, ast.ClassDef) and cls.name.endswith("API"):
                defined_in.setdefault(cls.name, []).append(path.stem)
    result = {}
    for path in (root / "mixins").glob("*.py"):
        for cls in ast.parse(path.read_text()).body:
            if isinstance(cls, ast.ClassDef):
                for base in cls.bases:
                    parts = ast.unparse(base).split(".")
                    if not parts[-1].endswith("API"):
                        continue
                    if len(parts) == 2:
                        result[cls.name] = (parts[0], parts[1])
                    elif len(defined_in.get(parts[0], [])) == 1:
                        result[cls.name] = (defined_in[parts[0]][0], parts[0])
    return result


def nested_accessors(root: Path):
    """API classes reached through another API's property (`w.settings.default_namespace`)."""
    result = {}
    for path in (root / "service").glob("*.py"):
        pkg = path.stem
        for cls in ast.parse(path.read_text()).body:
            if isinstance(cls, ast.ClassDef) and cls.name.endswith("API"):
                for fn in cls.body:
                    if isinstance(fn, ast.FunctionDef) and fn.returns is not None:
                        target = ast.unparse(fn.returns).split(".")[-1]
                        if target.endswith("API") and any(getattr(d, "id", None) == "property" for d in fn.decorator_list):
                            result.setdefault((pkg, target), []).append(((pkg, cls.name), fn.name))
    return result


def accessors(root: Path):
    """WorkspaceClient / AccountClient property -> API class, from the SDK's __init__."""
    tree = ast.parse((root / "__init__.py").read_text())
    exts = ext_classes(root)
    result = {}
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or cls.name not in ("WorkspaceClient", "AccountClient"):
            continue
        level = "workspace" if cls.name == "WorkspaceClient" else "account"
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.returns is not None:
                ann = ast.unparse(fn.returns)
                if ann in exts:
                    key = exts[ann]
                else:
                    parts = ann.split(".")
                    if len(parts) != 2 or not parts[1].endswith("API"):
                        continue
                    key = (parts[0].removeprefix("pkg_"), parts[1])
                result.setdefault(key, []).append({"level": level, "accessor": fn.name})
    # Sub-services: `settings.default_namespace` under the parent's accessor.
    for api, parents in nested_accessors(root).items():
        for parent, prop in parents:
            for bound in list(result.get(parent, [])):
                result.setdefault(api, []).append({"level": bound["level"], "accessor": f"{bound['accessor']}.{prop}"})
    return result


def main():
    root = sdk_dir()
    version = sdk_version(root)
    if version != PINNED:
        sys.exit(f"expected databricks-sdk {PINNED}, found {version}")
    clients = accessors(root)
    packages = {}
    for path in sorted((root / "service").glob("*.py")):
        pkg = path.stem
        if pkg.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        types, enums, services = [], [], []
        for cls in tree.body:
            if not isinstance(cls, ast.ClassDef):
                continue
            if is_enum(cls):
                enums.append(extract_enum(cls))
            elif is_dataclass(cls):
                types.append(extract_type(cls, pkg))
        for cls in tree.body:
            if not (isinstance(cls, ast.ClassDef) and cls.name.endswith("API")):
                continue
            methods = [f for f in cls.body if isinstance(f, ast.FunctionDef)]
            waiters = {f.name: extract_waiter(f) for f in methods if f.name.startswith("wait_")}
            bound = clients.get((pkg, cls.name), [{"level": "account" if cls.name.startswith("Account") else "workspace",
                                            "accessor": None}])
            level = bound[0]["level"]
            name = service_name(cls.name)
            doc = f"https://docs.databricks.com/api/{level}/{name.replace('_', '')}"
            ops, skipped = [], []
            for fn in methods:
                if fn.name.startswith("_") or fn.name.startswith("wait_") or fn.name.endswith("_and_wait"):
                    continue
                if any(getattr(d, "id", None) == "property" for d in fn.decorator_list):
                    continue
                op = extract_operation(fn, pkg, waiters, doc)
                if op is not None:
                    ops.append(op)
                    continue
                do = find_do_call(fn)
                reason = "data-plane call to a URL obtained at run time" if do is not None else "composed of other calls"
                skipped.append({"name": fn.name.rstrip("_"), "reason": reason})
            names = sorted({b["accessor"] for b in bound if b["accessor"] and b["level"] == level})
            services.append({"name": name, "class": cls.name, "level": level, "accessors": names, "operations": ops,
                             "skipped": skipped})
        lros = lro_classes(tree, pkg)
        # Module-level aliases such as `WorkspaceConf = Dict[str, str]`.
        aliases = {n.targets[0].id: type_of(n.value, pkg) for n in tree.body
                   if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Subscript)}
        for svc in services:
            for op in svc["operations"]:
                ret = op.get("returns") or {}
                if ret.get("kind") == "ref" and ret.get("name") in aliases:
                    op["returns"] = aliases[ret["name"]]
                if ret.get("kind") == "ref" and ret.get("name") in lros:
                    op["lro"] = lros[ret["name"]]
                    op["returns"] = {"kind": "ref", "package": pkg, "name": "Operation"}
        wires = {(e["name"], v["name"]): v["wire"] for e in enums for v in e["values"]}
        for svc in services:
            for op in svc["operations"]:
                w = op.get("waiter")
                if w:
                    for key in ("target", "failure"):
                        w[key] = [wires.get((st["enum"].split(".")[-1], st["member"]), st["member"]) for st in w.get(key, [])]
        packages[pkg] = {"services": services, "types": types, "enums": enums}
    model = {"source": {"package": "databricks-sdk", "version": version}, "packages": packages}
    json.dump(model, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
