"""How to add an optional extra to this installation, for the hints in error messages.

From the package index the name works (``pip install "synth-embeddings[dask]"``); from a checkout it does not
(the name is not on the index), so the hint names the folder the package was installed from, as pip
recorded it in ``direct_url.json`` (PEP 610): ``dir_info`` means a local folder, editable or not.
"""

import json
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

DIST = "synth-embeddings"


def install_hint(extra, dist=None):
    """The ``pip install`` command that adds ``extra`` (``"dask"``, ``"embed"``) to this installation.

    Parameters
    ----------
    extra : str
    dist : importlib.metadata.Distribution, optional
        Default: the installed ``synth-embeddings``.

    Returns
    -------
    str
        ``pip install -e "/path/to/checkout[extra]"`` for an editable install from a folder,
        ``pip install "/path/to/checkout[extra]"`` for a plain install from one, ``pip install -e
        "/path[extra]"`` when the package is imported from a checkout without being installed,
        ``pip install "synth-embeddings[extra] @ git+URL@COMMIT"`` for an install from version control,
        else ``pip install "synth-embeddings[extra]"``.
    """
    if dist is None:
        try:
            dist = metadata.distribution(DIST)
        except metadata.PackageNotFoundError:
            root = Path(__file__).resolve().parents[1]
            if (root / "pyproject.toml").is_file():
                return f'pip install -e "{root}[{extra}]"'
            return f'pip install "{DIST}[{extra}]"'
    try:
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:  # a damaged record: the name is still a valid hint
        origin = {}
    url = urlparse(origin.get("url", "")) if isinstance(origin, dict) else urlparse("")
    if isinstance(origin, dict) and isinstance(origin.get("dir_info"), dict) and url.scheme == "file":
        path = url2pathname(unquote(url.path))
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f'pip install {editable}"{path}[{extra}]"'
    vcs = origin.get("vcs_info") if isinstance(origin, dict) else None
    if isinstance(vcs, dict) and vcs.get("vcs") and origin.get("url"):  # pip install git+https://...
        commit = f"@{vcs['commit_id']}" if vcs.get("commit_id") else ""
        return f'pip install "{DIST}[{extra}] @ {vcs["vcs"]}+{origin["url"]}{commit}"'
    return f'pip install "{DIST}[{extra}]"'
