-- Failed proofs of identity per account (the CRM's customer id), counted over every instance:
-- guesses spread over several instances add up. Rows older than the counting window are
-- deleted as new failures come in.
CREATE TABLE failed_proofs (
    account text NOT NULL,
    at      timestamptz NOT NULL
);

CREATE INDEX failed_proofs_account ON failed_proofs (account, at);
CREATE INDEX failed_proofs_at ON failed_proofs (at);
