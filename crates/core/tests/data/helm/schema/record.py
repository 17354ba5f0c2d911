# Records what Helm says of each case of cases.json (user values for chart/, release flotilla,
# namespace default) into expected.json: {case: Helm's error, or null when it renders}. Helm's own
# Go SDK: pip install helm-python-sdk (libhelm_c, Helm 4.2.3). Run from this folder:
#   python3 record.py
import json
import helm_python as helm

cases = json.load(open("cases.json"))
out = {}
for name, values in cases.items():
    try:
        helm.Chart.load("chart").render(values=values, name="flotilla", namespace="default")
        out[name] = None
    except Exception as e:  # Helm's message, whole
        out[name] = str(e)
with open("expected.json", "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
