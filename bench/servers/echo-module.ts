// The handler module of the workers bench: the event-style echo of switchboard-event-echo.ts.
import type { TcpEventHandler } from '../../src/index.ts';

const handler: TcpEventHandler = {
  data(session, chunk) {
    session.write(chunk);
  },
};
export default handler;
