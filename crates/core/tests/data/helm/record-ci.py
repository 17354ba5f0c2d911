# Records what Helm renders for each chart of ../shared/helm-charts with each of its own
# ci/*.yaml values files, as the first 16 hex digits of the SHA-256 of each template's text (the texts themselves would
# be megabytes): ci-values.json, {"CHART/ci/FILE.yaml": {"TEMPLATE": "sha256 hex" | null}} where
# null marks a template two Helm renders disagree on (random values), or {"error": MESSAGE}.
# Helm's own Go SDK: pip install helm-python-sdk (libhelm_c, Helm 4.2.3). Run from this folder:
#   python3 record-ci.py
import glob, hashlib, json, os
import helm_python as helm

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../../../shared/helm-charts")
cases = {}
for name in open(os.path.join(root, "cases.txt")).read().split():
    for path in sorted(glob.glob(os.path.join(root, name, "ci", "*.yaml"))):
        key = os.path.relpath(path, root)
        try:
            values = helm.values_from_yaml(open(path).read())
            chart = helm.Chart.load(os.path.join(root, name))
            first = chart.render(values=values, name="flotilla", namespace="default")
            second = chart.render(values=values, name="flotilla", namespace="default")
            cases[key] = {
                t: (hashlib.sha256(text.encode()).hexdigest()[:16] if second.get(t) == text else None)
                for t, text in first.items()
            }
        except Exception as e:  # Helm's own failure is recorded: we must fail too
            cases[key] = {"error": str(e).splitlines()[0][:300]}
with open("ci-values.json", "w") as f:
    json.dump(cases, f, indent=0, sort_keys=True)
    f.write("\n")
