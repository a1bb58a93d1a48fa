CREATE TABLE "jobs" (
    "Id" TEXT NOT NULL CONSTRAINT "PK_jobs" PRIMARY KEY,
    "Kind" TEXT NOT NULL,
    "Trainer" TEXT NULL,
    "ModelName" TEXT NULL,
    "State" TEXT NOT NULL,
    "Phase" TEXT NULL,
    "Attempt" INTEGER NOT NULL,
    "HandBacks" INTEGER NOT NULL,
    "RollOnSuccess" INTEGER NOT NULL,
    "IdempotencyKey" TEXT NULL,
    "CreatedAt" INTEGER NOT NULL,
    "StartedAt" INTEGER NULL,
    "LastHeartbeatAt" INTEGER NULL,
    "FinishedAt" INTEGER NULL,
    "Node" TEXT NULL,
    "WorkloadName" TEXT NULL,
    "RequestJson" TEXT NOT NULL,
    "ResolvedJson" TEXT NULL,
    "DispatchJson" TEXT NULL,
    "TrainResultJson" TEXT NULL,
    "RollResultJson" TEXT NULL,
    "ErrorJson" TEXT NULL,
    "StatusCode" INTEGER NULL,
    "LogTail" TEXT NULL,
    "LogsUri" TEXT NULL,
    "Revision" INTEGER NOT NULL
);


CREATE TABLE "outbox" (
    "Id" INTEGER NOT NULL CONSTRAINT "PK_outbox" PRIMARY KEY AUTOINCREMENT,
    "JobId" TEXT NOT NULL,
    "MessageType" TEXT NOT NULL,
    "Destination" TEXT NULL,
    "Body" TEXT NOT NULL,
    "CreatedAt" INTEGER NOT NULL
);


CREATE INDEX "IX_jobs_CreatedAt" ON "jobs" ("CreatedAt");


CREATE UNIQUE INDEX "IX_jobs_IdempotencyKey" ON "jobs" ("IdempotencyKey");


CREATE INDEX "IX_jobs_State_CreatedAt" ON "jobs" ("State", "CreatedAt");


