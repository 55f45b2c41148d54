//! A local SMTP server for tests: accepts every message and keeps it, so a
//! test can read the links the platform sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    /// Headers and body as sent, with quoted-printable soft breaks undone.
    pub data: String,
}

impl Mail {
    /// The first `…/{page}?token=…` link's token.
    pub fn token_for(&self, page: &str) -> Option<String> {
        let start = self.data.find(&format!("/{page}?token="))? + page.len() + 8;
        Some(
            self.data[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
                .collect(),
        )
    }
}

pub struct MailSink {
    pub url: String,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl MailSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 sink\r\n",
                            "RCPT" => {
                                to.push(
                                    line.split(['<', '>']).nth(1).unwrap_or_default().to_owned(),
                                );
                                b"250 ok\r\n"
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 go ahead\r\n").await;
                                let mut data = String::new();
                                while let Ok(Some(line)) = lines.next_line().await {
                                    if line == "." {
                                        break;
                                    }
                                    match line.strip_suffix('=') {
                                        Some(soft) => data.push_str(soft),
                                        None => {
                                            data.push_str(&line);
                                            data.push('\n');
                                        }
                                    }
                                }
                                let data = data.replace("=3D", "=");
                                kept.lock().unwrap().push(Mail {
                                    to: std::mem::take(&mut to),
                                    data,
                                });
                                b"250 kept\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { url, mails }
    }

    /// Waits (up to 10 s) for a message to `to`, and takes it.
    pub async fn next_to(&self, to: &str) -> Mail {
        for _ in 0..200 {
            {
                let mut mails = self.mails.lock().unwrap();
                if let Some(i) = mails.iter().position(|m| m.to.iter().any(|t| t == to)) {
                    return mails.remove(i);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email to {to} within 10 s");
    }

    /// How many messages are waiting.
    pub fn count(&self) -> usize {
        self.mails.lock().unwrap().len()
    }
}
