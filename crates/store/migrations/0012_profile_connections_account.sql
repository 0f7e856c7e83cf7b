-- A booking asks, for each member, whether the account has connected
-- calendar profiles; so does the slot check before it.
CREATE INDEX profile_connections_account ON profile_connections (account_id);
