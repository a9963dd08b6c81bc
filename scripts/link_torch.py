"""Links torch and its own dependencies (nothing else) from this environment into one folder.

``scripts/check.sh`` puts the folder on the path of a fresh virtual environment, so that the
built wheel is installed and tested there without downloading torch again.
Usage: python scripts/link_torch.py TARGET_FOLDER
"""

import importlib.metadata as metadata
import os
import re
import sys

target = sys.argv[1]
os.makedirs(target)
todo, seen = ["torch"], set()
while todo:
    name = re.split(r"[ ;<>=!~\[(]", todo.pop())[0].lower().replace("_", "-")
    if name in seen:
        continue
    seen.add(name)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue  # an optional or platform-specific requirement that is not installed
    todo += [r for r in dist.requires or [] if "extra ==" not in r]
    for top in {f.parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
        source = os.path.join(str(dist.locate_file("")), top)
        if os.path.exists(source) and not os.path.exists(os.path.join(target, top)):
            os.symlink(source, os.path.join(target, top))
print(f"linked {', '.join(sorted(seen))} into {target}")
