//! Sends the outbox's mails over SMTP (lettre), for the worker.
//!
//! A mail is one delivery of kind `mail` (see `domain::mail`); its attempt
//! ends like a callback's: delivered, retried with backoff (the server is
//! unreachable or answers 4xx) or failed at once (a 5xx is permanent, so
//! retrying it would only repeat the refusal).

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::domain::mail::{Mail, with_link};

/// An SMTP connection pool and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: only the sender is shown.
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

/// The sender for `--smtp-url` and `--mail-from`: `smtp://user:pass@host:port`
/// upgrades with STARTTLS when the server offers it (`?tls=required` insists),
/// `smtps://` speaks TLS from the start.
pub fn build(url: &str, from: &str, timeout_ms: u64) -> anyhow::Result<Mailer> {
    // One TLS provider for the whole process (ring, as sqlx and reqwest use).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
    if parsed.scheme() == "smtp" && !parsed.query_pairs().any(|(k, _)| k == "tls") {
        let host = parsed.host_str().unwrap_or_default().to_string();
        builder = builder.tls(Tls::Opportunistic(
            TlsParameters::new(host).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?,
        ));
    }
    let from: Mailbox = from
        .parse()
        .map_err(|e| anyhow::anyhow!("--mail-from {from:?}: {e}"))?;
    Ok(Mailer {
        transport: builder
            .timeout(Some(std::time::Duration::from_millis(timeout_ms)))
            .build(),
        from,
    })
}

/// What one attempt came to: sent, or the SMTP code (if the server answered
/// one), whether it is permanent, and why.
pub enum Sent {
    Ok(i64),
    Failed {
        code: Option<i64>,
        permanent: bool,
        error: String,
    },
}

/// The MIME message of a stored mail: `multipart/mixed` holding a
/// `multipart/alternative` (plain text, HTML and, for an invitation, the
/// `text/calendar; method=…` part calendar clients act on) and the same
/// calendar as an `invite.ics` attachment for clients that only look there.
pub fn message(from: &Mailbox, delivery_id: &str, mail: &Mail) -> anyhow::Result<Message> {
    let to = Mailbox::new(mail.to_name.clone(), mail.to.parse()?);
    let mut alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(mail.text.clone()))
        .singlepart(SinglePart::html(mail.html.clone()));
    let domain = from.email.domain().to_string();
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        // The delivery id: a mail sent again after a lost acknowledgement
        // carries the same Message-ID, so receivers can drop the copy.
        .message_id(Some(format!("<{delivery_id}@{domain}>")));
    let body = match (&mail.ics, &mail.method) {
        (Some(ics), Some(method)) => {
            let calendar =
                ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))?;
            alternative = alternative.singlepart(
                SinglePart::builder()
                    .header(calendar.clone())
                    .body(ics.clone()),
            );
            MultiPart::mixed().multipart(alternative).singlepart(
                SinglePart::builder()
                    .header(ContentType::parse("application/ics; name=\"invite.ics\"")?)
                    .header(lettre::message::header::ContentDisposition::attachment(
                        "invite.ics",
                    ))
                    .body(ics.clone()),
            )
        }
        _ => alternative,
    };
    Ok(builder.multipart(body)?)
}

/// Sends one stored mail.
pub async fn send(state: &crate::AppState, mailer: &Mailer, delivery_id: &str, body: &str) -> Sent {
    let mail: Mail = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            return Sent::Failed {
                code: None,
                permanent: true,
                error: format!("unreadable stored mail: {e}"),
            };
        }
    };
    let mail = with_link(state, mail);
    let msg = match message(&mailer.from, delivery_id, &mail) {
        Ok(m) => m,
        Err(e) => {
            return Sent::Failed {
                code: None,
                permanent: true,
                error: format!("cannot build the mail: {e}"),
            };
        }
    };
    match mailer.transport.send(msg).await {
        Ok(r) => Sent::Ok(i64::from(u16::from(r.code()))),
        Err(e) => Sent::Failed {
            code: e.status().map(|c| i64::from(u16::from(c))),
            permanent: e.is_permanent(),
            error: format!("SMTP: {e}"),
        },
    }
}
