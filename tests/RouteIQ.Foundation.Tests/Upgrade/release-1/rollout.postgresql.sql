DO $EF$
BEGIN
    IF NOT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = 'rollout') THEN
        CREATE SCHEMA rollout;
    END IF;
END $EF$;


CREATE TABLE rollout.deployments (
    "Id" uuid NOT NULL,
    "Sequence" bigint NOT NULL,
    "ModelName" character varying(128) NOT NULL,
    "Version" integer NOT NULL,
    "Alias" text,
    "ModelUri" text,
    "ManifestUri" text,
    "ManifestSha256" text,
    "ServeImage" text,
    "ServeCommandJson" text,
    "ServerUrl" text,
    "WorkloadName" text,
    "WorkloadId" text,
    "WorkloadKind" text,
    "Active" boolean NOT NULL,
    "IsRollback" boolean NOT NULL,
    "RollJobId" uuid NOT NULL,
    "TrainJobId" uuid,
    "PreviousDeploymentId" uuid,
    "PreviousModelName" text,
    "PreviousVersion" integer,
    "DeployedAt" timestamp with time zone NOT NULL,
    "RetiredAt" timestamp with time zone,
    CONSTRAINT "PK_deployments" PRIMARY KEY ("Id")
);


CREATE TABLE rollout.model_aliases (
    "ModelName" character varying(128) NOT NULL,
    "Alias" character varying(64) NOT NULL,
    "Version" integer NOT NULL,
    "UpdatedAt" timestamp with time zone NOT NULL,
    CONSTRAINT "PK_model_aliases" PRIMARY KEY ("ModelName", "Alias")
);


CREATE TABLE rollout.model_versions (
    "Id" uuid NOT NULL,
    "ModelName" character varying(128) NOT NULL,
    "Version" integer NOT NULL,
    "TrainJobId" uuid NOT NULL,
    "State" text NOT NULL,
    "Trainer" text,
    "ModelUri" text,
    "ManifestUri" text,
    "ManifestSha256" text,
    "SignatureType" text,
    "ServeImage" text,
    "ServeCommandJson" text,
    "MetricsJson" text,
    "RunId" text,
    "CreatedAt" timestamp with time zone NOT NULL,
    CONSTRAINT "PK_model_versions" PRIMARY KEY ("Id")
);


CREATE TABLE rollout.models (
    "Name" character varying(128) NOT NULL,
    "NextVersion" integer NOT NULL,
    "CreatedAt" timestamp with time zone NOT NULL,
    CONSTRAINT "PK_models" PRIMARY KEY ("Name")
);


CREATE INDEX "IX_deployments_ModelName_Active" ON rollout.deployments ("ModelName", "Active");


CREATE INDEX "IX_deployments_RollJobId" ON rollout.deployments ("RollJobId");


CREATE UNIQUE INDEX "IX_deployments_Sequence" ON rollout.deployments ("Sequence");


CREATE UNIQUE INDEX "IX_model_versions_ModelName_Version" ON rollout.model_versions ("ModelName", "Version");


CREATE UNIQUE INDEX "IX_model_versions_TrainJobId" ON rollout.model_versions ("TrainJobId");


