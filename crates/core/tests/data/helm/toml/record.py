# Records what Helm renders for chart/ into expected.json (release flotilla, namespace default,
# default values), with Helm's own Go SDK: pip install helm-python-sdk (libhelm_c, Helm 4.2.3).
# Run from this folder: python3 record.py
import json
import helm_python as helm

rendered = helm.Chart.load("chart").render(values={}, name="flotilla", namespace="default")
with open("expected.json", "w") as f:
    json.dump(rendered, f, indent=1, sort_keys=True, ensure_ascii=False)
    f.write("\n")
