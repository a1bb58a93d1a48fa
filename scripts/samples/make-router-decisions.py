#!/usr/bin/env python3
"""Writes deploy/samples/router-decisions.jsonl and deploy/samples/llm-catalogue.json for the distributed quick start.

Source: LLMRouter's dcrouter training set (MIT licence; ../shared/data beside the project): for each of the first
N queries a gateway that explores uniformly picks one of the nine models, and the event carries that model's graded
score (custom_attributes.performance), its propensity (custom_attributes.selection_probability) and the query text.
Deterministic: the same input gives the same file.
"""
import json, random, sys, uuid, pathlib

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "deploy/samples")
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1200
rows = json.loads((src / "llmrouter-dcrouter-train.json").read_text())
candidates = json.loads((src / "llmrouter-llm-candidates.json").read_text())
models = sorted(rows[0]["scores"].keys())
rng = random.Random(20261201)
base_ms = 1_795_000_000_000
out.mkdir(parents=True, exist_ok=True)
with open(out / "router-decisions.jsonl", "w") as f:
    for i, row in enumerate(rows[:count]):
        model = models[rng.randrange(len(models))]
        query = row["question"]
        ts = base_ms + i * 1000
        input_tokens = max(1, len(query) // 4)
        output_tokens = rng.randrange(50, 400)
        event = {
            "contract_version": "v1", "contract_name": "routeiq.router_decision.v1",
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "trace_id": "%032x" % rng.getrandbits(128), "span_id": "%016x" % rng.getrandbits(64), "parent_span_id": None,
            "timestamp_utc": __import__("datetime").datetime.fromtimestamp(ts / 1000, __import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timestamp_unix_ms": ts,
            "input": {"requested_model": "auto", "query_length": len(query), "user_id": "u-%d" % (i % 50), "team_id": None,
                      "api_type": "chat_completion", "request_metadata": {}},
            "strategy_name": "uniform-explore", "strategy_version": None,
            "candidate_deployments": [{"model_name": m, "provider": "nim", "score": None, "available": True} for m in models],
            "selected_deployment": model, "selection_reason": "uniform",
            "experiment": None,
            "timings": {"total_ms": round(rng.uniform(300, 3000), 1), "strategy_ms": 0.1, "embedding_ms": 0.0, "candidate_filter_ms": 0.0},
            "outcome": {"status": "success", "error_message": None, "error_type": None, "input_tokens": input_tokens,
                        "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens, "api_type": "chat_completion"},
            "fallback": {"fallback_triggered": False, "original_model": None, "fallback_reason": None, "fallback_attempt": 0},
            "custom_attributes": {"query_text": query, "performance": row["scores"][model],
                                  "selection_probability": round(1 / len(models), 6)},
        }
        f.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
catalogue = {m: candidates[m] for m in models if m in candidates}
(out / "llm-catalogue.json").write_text(json.dumps(catalogue, indent=1) + "\n")
print(f"{count} decisions over {len(models)} models, catalogue of {len(catalogue)}")
