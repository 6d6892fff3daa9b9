/**
 * An SMTP-like server with STARTTLS (RFC 3207): it greets, answers EHLO with the STARTTLS
 * extension, upgrades on STARTTLS, and takes MAIL, RCPT and DATA only once the session is TLS.
 * It delivers nothing: it says what it would have done.
 *
 *   switchboard run examples/starttls-smtp.ts --listen localhost:2525 --tls-cert cert.pem --tls-key key.pem
 *   openssl s_client -starttls smtp -connect localhost:2525
 *   gnutls-cli --starttls-proto=smtp -p 2525 localhost
 *
 * `session.startTls()` writes the 220 go-ahead itself, after checking that nothing followed the
 * command: a client that pipelines plaintext behind STARTTLS (an injection, CVE-2011-0411) is
 * disconnected, and what it sent is never read as a command.
 */
import { createLineCodec, framed, type FramedAsyncSession, type TcpServerOptions } from 'switchboard';

/** STARTTLS with the certificate `--tls-cert`/`--tls-key` give; a client sits idle at most 5 minutes. */
export const options: TcpServerOptions = { tls: { mode: 'starttls' }, idleTimeout: 300_000 };

const HOST = 'switchboard.example';

type Smtp = FramedAsyncSession<string, string>;

export default framed(() => createLineCodec({ maxLineLength: 1000, newline: '\r\n' }), async (session: Smtp) => {
  await session.send(`220 ${HOST} ESMTP ready`);
  let sender: string | undefined;
  const recipients: string[] = [];
  for await (const line of session.frames()) {
    const verb = line.split(' ', 1)[0]!.toUpperCase();
    const secure = session.tls !== null;
    if (verb === 'QUIT') {
      await session.send(`221 2.0.0 ${HOST} closing`);
      return;
    }
    if (verb === 'EHLO') {
      await session.send(`250-${HOST} hello`);
      await session.send(secure ? '250 8BITMIME' : '250 STARTTLS');
    } else if (verb === 'HELO') {
      await session.send(`250 ${HOST}`);
    } else if (verb === 'STARTTLS') {
      if (secure) await session.send('503 5.5.1 TLS already active');
      else await session.startTls({ goAhead: '220 2.0.0 Ready to start TLS\r\n' });
    } else if (verb === 'NOOP') {
      await session.send('250 2.0.0 OK');
    } else if (!secure && (verb === 'MAIL' || verb === 'RCPT' || verb === 'DATA')) {
      await session.send('530 5.7.0 Must issue a STARTTLS command first');
    } else if (verb === 'MAIL') {
      sender = line.replace(/^MAIL FROM:\s*/i, '');
      recipients.length = 0;
      await session.send('250 2.1.0 OK');
    } else if (verb === 'RCPT') {
      recipients.push(line.replace(/^RCPT TO:\s*/i, ''));
      await session.send('250 2.1.5 OK');
    } else if (verb === 'DATA') {
      await session.send('354 End data with <CR><LF>.<CR><LF>');
      let bytes = 0;
      for await (const body of session.frames()) {
        if (body === '.') break;
        bytes += body.length + 2;
      }
      const { protocol, cipher } = session.tls!;
      await session.send(`250 2.0.0 would deliver ${bytes} bytes from ${sender ?? '<>'} to ${recipients.length} recipient(s) (${protocol}, ${cipher.standardName})`);
    } else {
      await session.send('502 5.5.2 Command not implemented');
    }
  }
});
