//! Scheduling Conversations: a conversation row and one row per participant.
//!
//! Reads go through the pool; every change is a [`Write`] so that the server
//! can apply it inside [`Db::transact`] together with the events and the
//! notifications the change causes.

use crate::tx::{Stmt, Write};
use crate::{Db, Result, dispatch};

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
    pub status: String,
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
    pub selection_method: String,
    pub status: String,
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

/// `SELECT … FOR UPDATE` on the conversation row (PostgreSQL only; SQLite
/// serializes every writer anyway).
pub fn lock(id: &str) -> Stmt {
    Stmt::new(
        "SELECT id FROM scheduling_conversations WHERE id = $1 FOR UPDATE",
        vec![id.into()],
    )
}

pub fn insert_conversation(c: &Conversation) -> Write {
    Write::Stmt(Stmt::new(
        "INSERT INTO scheduling_conversations (id, application_id, organizational_unit_id, creator_account_id, tzid, subject, event_json, required_minutes, periods_json, starts_ms, ends_ms, status, chosen_start_ms, chosen_end_ms, version, created_ms, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        vec![
            c.id.clone().into(),
            c.application_id.clone().into(),
            c.organizational_unit_id.clone().into(),
            c.creator_account_id.clone().into(),
            c.tzid.clone().into(),
            c.subject.clone().into(),
            c.event_json.clone().into(),
            c.required_minutes.into(),
            c.periods_json.clone().into(),
            c.starts_ms.into(),
            c.ends_ms.into(),
            c.status.clone().into(),
            c.chosen_start_ms.into(),
            c.chosen_end_ms.into(),
            c.version.into(),
            c.created_ms.into(),
            c.updated_ms.into(),
        ],
    ))
}

pub fn insert_participant(p: &ConversationParticipant) -> Write {
    Write::Stmt(Stmt::new(
        "INSERT INTO scheduling_conversation_participants (conversation_id, position, participant_id, sub, email, common_name, managed_availability, selection_method, status, token_hash, selected_start_ms, selected_end_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            p.conversation_id.clone().into(),
            p.position.into(),
            p.participant_id.clone().into(),
            p.sub.clone().into(),
            p.email.clone().into(),
            p.common_name.clone().into(),
            p.managed_availability.into(),
            p.selection_method.clone().into(),
            p.status.clone().into(),
            p.token_hash.clone().into(),
            p.selected_start_ms.into(),
            p.selected_end_ms.into(),
        ],
    ))
}

/// Moves the conversation from the `version` the caller read to the next
/// one: a compare-and-set, so a change decided on stale state rolls back.
pub fn update_conversation(c: &Conversation, read_version: i64) -> Write {
    Write::Stmt(
        Stmt::new(
            "UPDATE scheduling_conversations SET status = $1, chosen_start_ms = $2, chosen_end_ms = $3, version = $4, updated_ms = $5 WHERE id = $6 AND version = $7",
            vec![
                c.status.clone().into(),
                c.chosen_start_ms.into(),
                c.chosen_end_ms.into(),
                c.version.into(),
                c.updated_ms.into(),
                c.id.clone().into(),
                read_version.into(),
            ],
        )
        .expect(1),
    )
}

pub fn update_participant(p: &ConversationParticipant) -> Write {
    Write::Stmt(
        Stmt::new(
            "UPDATE scheduling_conversation_participants SET status = $1, selected_start_ms = $2, selected_end_ms = $3 WHERE conversation_id = $4 AND position = $5",
            vec![
                p.status.clone().into(),
                p.selected_start_ms.into(),
                p.selected_end_ms.into(),
                p.conversation_id.clone().into(),
                p.position.into(),
            ],
        )
        .expect(1),
    )
}
