"""Write a `mmrl verify --batch` file that checks each GSM8K test gold answer against itself."""
import json
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"
out = Path(sys.argv[1])
out.parent.mkdir(parents=True, exist_ok=True)
with SRC.open() as f, out.open("w") as g:
    for line in f:
        gold = json.loads(line)["answer"].split("####")[-1].strip().replace(",", "")
        g.write(json.dumps({"response": f"The answer is \\boxed{{{gold}}}.", "gold": gold}) + "\n")
print(f"wrote {out}")
