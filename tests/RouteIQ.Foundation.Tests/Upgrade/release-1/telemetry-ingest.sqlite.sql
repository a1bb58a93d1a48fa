CREATE TABLE "datasets" (
    "dataset_id" TEXT NOT NULL CONSTRAINT "PK_datasets" PRIMARY KEY,
    "created_at_ms" INTEGER NOT NULL,
    "uri" TEXT NOT NULL,
    "total_records" INTEGER NOT NULL,
    "train_records" INTEGER NOT NULL,
    "test_records" INTEGER NOT NULL,
    "unique_queries" INTEGER NOT NULL,
    "metadata_json" TEXT NOT NULL
);


CREATE TABLE "decisions" (
    "event_id" TEXT NOT NULL CONSTRAINT "PK_decisions" PRIMARY KEY,
    "timestamp_ms" INTEGER NOT NULL,
    "ingested_at_ms" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "contract_version" TEXT NULL,
    "trace_id" TEXT NULL,
    "span_id" TEXT NULL,
    "parent_span_id" TEXT NULL,
    "requested_model" TEXT NULL,
    "query_length" INTEGER NULL,
    "user_id" TEXT NULL,
    "team_id" TEXT NULL,
    "api_type" TEXT NULL,
    "strategy_name" TEXT NULL,
    "strategy_version" TEXT NULL,
    "selected_deployment" TEXT NULL,
    "selection_reason" TEXT NULL,
    "candidate_count" INTEGER NOT NULL,
    "experiment_id" TEXT NULL,
    "experiment_variant" TEXT NULL,
    "total_ms" REAL NULL,
    "strategy_ms" REAL NULL,
    "embedding_ms" REAL NULL,
    "candidate_filter_ms" REAL NULL,
    "outcome_status" TEXT NULL,
    "error_type" TEXT NULL,
    "error_message" TEXT NULL,
    "input_tokens" INTEGER NULL,
    "output_tokens" INTEGER NULL,
    "total_tokens" INTEGER NULL,
    "fallback_triggered" INTEGER NOT NULL,
    "fallback_reason" TEXT NULL,
    "original_model" TEXT NULL,
    "fallback_attempt" INTEGER NULL,
    "performance" REAL NULL,
    "query_text" TEXT NULL,
    "attributes_json" TEXT NULL
);


CREATE TABLE "rejected_events" (
    "id" INTEGER NOT NULL CONSTRAINT "PK_rejected_events" PRIMARY KEY AUTOINCREMENT,
    "received_at_ms" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "raw_body" TEXT NOT NULL,
    "event_id" TEXT NULL
);


CREATE INDEX "IX_decisions_timestamp_ms" ON "decisions" ("timestamp_ms");


CREATE INDEX "IX_rejected_events_received_at_ms" ON "rejected_events" ("received_at_ms");


