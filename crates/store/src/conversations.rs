//! Scheduling Conversations: a conversation row and one row per participant.
//!
//! Reads go through the pool; changes are [`Tx`] functions, so the domain
//! applies them in one transaction together with the events and the
//! notifications the change causes.

use crate::tx::{expect_one, in_tx};
use crate::{Db, Result, Tx, dispatch};

/// Generates the text conversions of a state stored as its wire spelling.
macro_rules! spelled {
    ($ty:ident, $what:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The wire and database spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!(concat!("unknown ", $what, " {:?}"), s))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> std::result::Result<Self, String> {
                s.parse()
            }
        }
    };
}

/// Where a conversation stands. The allowed moves are the domain's
/// (`convene_server::domain::conversations::may_move`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConversationStatus {
    /// Waiting for participants to agree on a slot.
    InProgress,
    /// A slot is chosen and booked.
    Complete,
    /// Every available period passed without agreement.
    Expired,
}

spelled!(ConversationStatus, "conversation status",
    InProgress => "in_progress", Complete => "complete", Expired => "expired");

/// Where a participant stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParticipantStatus {
    /// Has to choose (or answer the other side's proposal).
    NeedsAction,
    /// Waits on the others (an `auto` participant, or a proposer).
    Waiting,
    /// The conversation is complete.
    Complete,
}

spelled!(ParticipantStatus, "participant status",
    NeedsAction => "needs_action", Waiting => "waiting", Complete => "complete");

/// How a participant chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SelectionMethod {
    /// Through its action URLs.
    Manual,
    /// Accepts any slot it is free for.
    Auto,
}

spelled!(SelectionMethod, "selection method", Manual => "manual", Auto => "auto");

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Conversation {
    pub id: String,
    pub application_id: String,
    pub organizational_unit_id: String,
    pub creator_account_id: String,
    pub tzid: String,
    pub subject: Option<String>,
    pub event_json: Option<String>,
    pub required_minutes: i64,
    pub periods_json: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    #[sqlx(try_from = "String")]
    pub status: ConversationStatus,
    pub chosen_start_ms: Option<i64>,
    pub chosen_end_ms: Option<i64>,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConversationParticipant {
    pub conversation_id: String,
    pub position: i64,
    pub participant_id: Option<String>,
    pub sub: Option<String>,
    pub email: Option<String>,
    pub common_name: Option<String>,
    pub managed_availability: bool,
    #[sqlx(try_from = "String")]
    pub selection_method: SelectionMethod,
    #[sqlx(try_from = "String")]
    pub status: ParticipantStatus,
    pub token_hash: String,
    pub selected_start_ms: Option<i64>,
    pub selected_end_ms: Option<i64>,
}

/// A notification as recorded in the outbox (what tests and operators read).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RecordedNotification {
    pub application_id: String,
    pub account_id: Option<String>,
    pub kind: String,
    pub payload_json: String,
}

const CONVERSATION_COLS: &str = "id, application_id, organizational_unit_id, creator_account_id, tzid, subject, event_json, required_minutes, periods_json, starts_ms, ends_ms, status, chosen_start_ms, chosen_end_ms, version, created_ms, updated_ms";
const PARTICIPANT_COLS: &str = "conversation_id, position, participant_id, sub, email, common_name, managed_availability, selection_method, status, token_hash, selected_start_ms, selected_end_ms";

impl Db {
    #[tracing::instrument(skip(self))]
    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {CONVERSATION_COLS} FROM scheduling_conversations WHERE id = "
            ));
            qb.push_bind(id);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    /// The participants of a conversation, organizer first.
    #[tracing::instrument(skip(self))]
    pub async fn conversation_participants(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ConversationParticipant>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {PARTICIPANT_COLS} FROM scheduling_conversation_participants WHERE conversation_id = "
            ));
            qb.push_bind(conversation_id).push(" ORDER BY position");
            qb.build_query_as().fetch_all(p).await?
        }))
    }

    /// A conversation with its participants, as one value.
    #[tracing::instrument(skip(self))]
    pub async fn conversation_with_participants(
        &self,
        id: &str,
    ) -> Result<Option<(Conversation, Vec<ConversationParticipant>)>> {
        let Some(c) = self.conversation(id).await? else {
            return Ok(None);
        };
        let parts = self.conversation_participants(id).await?;
        Ok(Some((c, parts)))
    }

    /// The participant a link token belongs to (by the token's digest).
    #[tracing::instrument(skip_all)]
    pub async fn conversation_participant_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConversationParticipant>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {PARTICIPANT_COLS} FROM scheduling_conversation_participants WHERE token_hash = "
            ));
            qb.push_bind(token_hash);
            qb.build_query_as().fetch_optional(p).await?
        }))
    }

    /// The notifications recorded about a conversation, oldest first.
    #[tracing::instrument(skip(self))]
    pub async fn conversation_notifications(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<RecordedNotification>> {
        Ok(dispatch!(self, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT application_id, account_id, kind, payload_json FROM notifications WHERE subject_id = ",
            );
            qb.push_bind(conversation_id)
                .push(" ORDER BY created_ms, id");
            qb.build_query_as().fetch_all(p).await?
        }))
    }
}

impl Tx {
    #[tracing::instrument(skip_all, fields(conversation = %c.id))]
    pub async fn insert_conversation(&mut self, c: &Conversation) -> Result<()> {
        in_tx!(self, |x| {
            sqlx::query(
            "INSERT INTO scheduling_conversations (id, application_id, organizational_unit_id, creator_account_id, tzid, subject, event_json, required_minutes, periods_json, starts_ms, ends_ms, status, chosen_start_ms, chosen_end_ms, version, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&c.id)
        .bind(&c.application_id)
        .bind(&c.organizational_unit_id)
        .bind(&c.creator_account_id)
        .bind(&c.tzid)
        .bind(&c.subject)
        .bind(&c.event_json)
        .bind(c.required_minutes)
        .bind(&c.periods_json)
        .bind(c.starts_ms)
        .bind(c.ends_ms)
        .bind(c.status.as_str())
        .bind(c.chosen_start_ms)
        .bind(c.chosen_end_ms)
        .bind(c.version)
        .bind(c.created_ms)
        .bind(c.updated_ms)
        .execute(&mut *x)
        .await?.rows_affected()
        });
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(conversation = %p.conversation_id))]
    pub async fn insert_participant(&mut self, p: &ConversationParticipant) -> Result<()> {
        in_tx!(self, |x| {
            sqlx::query(
            "INSERT INTO scheduling_conversation_participants (conversation_id, position, participant_id, sub, email, common_name, managed_availability, selection_method, status, token_hash, selected_start_ms, selected_end_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&p.conversation_id)
        .bind(p.position)
        .bind(&p.participant_id)
        .bind(&p.sub)
        .bind(&p.email)
        .bind(&p.common_name)
        .bind(p.managed_availability)
        .bind(p.selection_method.as_str())
        .bind(p.status.as_str())
        .bind(&p.token_hash)
        .bind(p.selected_start_ms)
        .bind(p.selected_end_ms)
        .execute(&mut *x)
        .await?.rows_affected()
        });
        Ok(())
    }

    /// Moves the conversation from the `version` the caller read to the
    /// next one: a compare-and-set, so a change decided on stale state fails
    /// with `Conflict` (and its transaction rolls back).
    #[tracing::instrument(skip_all, fields(conversation = %c.id))]
    pub async fn update_conversation(&mut self, c: &Conversation, read_version: i64) -> Result<()> {
        let n = in_tx!(self, |x| {
            sqlx::query(
            "UPDATE scheduling_conversations SET status = $1, chosen_start_ms = $2, chosen_end_ms = $3, version = $4, updated_ms = $5 WHERE id = $6 AND version = $7",
        )
        .bind(c.status.as_str())
        .bind(c.chosen_start_ms)
        .bind(c.chosen_end_ms)
        .bind(c.version)
        .bind(c.updated_ms)
        .bind(&c.id)
        .bind(read_version)
        .execute(&mut *x)
        .await?
        .rows_affected()
        });
        expect_one(n)
    }

    #[tracing::instrument(skip_all, fields(conversation = %p.conversation_id))]
    pub async fn update_participant(&mut self, p: &ConversationParticipant) -> Result<()> {
        let n = in_tx!(self, |x| {
            sqlx::query(
            "UPDATE scheduling_conversation_participants SET status = $1, selected_start_ms = $2, selected_end_ms = $3 WHERE conversation_id = $4 AND position = $5",
        )
        .bind(p.status.as_str())
        .bind(p.selected_start_ms)
        .bind(p.selected_end_ms)
        .bind(&p.conversation_id)
        .bind(p.position)
        .execute(&mut *x)
        .await?
        .rows_affected()
        });
        expect_one(n)
    }
}
