CREATE TABLE "deployments" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_deployments" PRIMARY KEY,
    "Sequence" INTEGER NOT NULL,
    "ModelName" TEXT NOT NULL,
    "Version" INTEGER NOT NULL,
    "Alias" TEXT NULL,
    "ModelUri" TEXT NULL,
    "ManifestUri" TEXT NULL,
    "ManifestSha256" TEXT NULL,
    "ServeImage" TEXT NULL,
    "ServeCommandJson" TEXT NULL,
    "ServerUrl" TEXT NULL,
    "WorkloadName" TEXT NULL,
    "WorkloadId" TEXT NULL,
    "WorkloadKind" TEXT NULL,
    "Active" INTEGER NOT NULL,
    "IsRollback" INTEGER NOT NULL,
    "RollJobId" TEXT NOT NULL,
    "TrainJobId" TEXT NULL,
    "PreviousDeploymentId" TEXT NULL,
    "PreviousModelName" TEXT NULL,
    "PreviousVersion" INTEGER NULL,
    "DeployedAt" TEXT NOT NULL,
    "RetiredAt" TEXT NULL
);


CREATE TABLE "model_aliases" (
    "ModelName" TEXT NOT NULL,
    "Alias" TEXT NOT NULL,
    "Version" INTEGER NOT NULL,
    "UpdatedAt" TEXT NOT NULL,
    CONSTRAINT "PK_model_aliases" PRIMARY KEY ("ModelName", "Alias")
);


CREATE TABLE "model_versions" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_model_versions" PRIMARY KEY,
    "ModelName" TEXT NOT NULL,
    "Version" INTEGER NOT NULL,
    "TrainJobId" TEXT NOT NULL,
    "State" TEXT NOT NULL,
    "Trainer" TEXT NULL,
    "ModelUri" TEXT NULL,
    "ManifestUri" TEXT NULL,
    "ManifestSha256" TEXT NULL,
    "SignatureType" TEXT NULL,
    "ServeImage" TEXT NULL,
    "ServeCommandJson" TEXT NULL,
    "MetricsJson" TEXT NULL,
    "RunId" TEXT NULL,
    "CreatedAt" TEXT NOT NULL
);


CREATE TABLE "models" (
    "Name" TEXT NOT NULL CONSTRAINT "PK_models" PRIMARY KEY,
    "NextVersion" INTEGER NOT NULL,
    "CreatedAt" TEXT NOT NULL
);


CREATE INDEX "IX_deployments_ModelName_Active" ON "deployments" ("ModelName", "Active");


CREATE INDEX "IX_deployments_RollJobId" ON "deployments" ("RollJobId");


CREATE UNIQUE INDEX "IX_deployments_Sequence" ON "deployments" ("Sequence");


CREATE UNIQUE INDEX "IX_model_versions_ModelName_Version" ON "model_versions" ("ModelName", "Version");


CREATE UNIQUE INDEX "IX_model_versions_TrainJobId" ON "model_versions" ("TrainJobId");


