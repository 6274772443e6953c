// A Node.js `net` server for the C10K bench: callbacks on one event loop, like step 06.
//
// It speaks the course's line protocol far enough for the bench: a plain line is echoed,
// `/lookup <ms> <question>` answers after a setTimeout (later lines of that caller wait, so
// answers stay in order), `/quit` says bye. Run it as `node node_echo.js --port 0` and it
// prints `node: listening on ADDR`.
'use strict';
const net = require('net');

const MAX_LINE = 8 * 1024;
const MAX_LOOKUP_MS = 60000;

const portFlag = process.argv.indexOf('--port');
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 7103;

function serveCaller(socket) {
  let pending = '';      // bytes of an unfinished line
  const queue = [];      // complete lines waiting for their turn
  let busy = false;      // a look-up is in progress: later lines wait

  function pump() {
    while (!busy && queue.length > 0) {
      const line = queue.shift();
      if (!line.startsWith('/')) {
        socket.write(line + '\n');
        continue;
      }
      const parts = line.split(/\s+/);
      const match = /^\/lookup\s+(\d+)\s+(\S.*)$/.exec(line);
      if (match && Number(match[1]) <= MAX_LOOKUP_MS) {
        busy = true;
        const ms = Number(match[1]);
        setTimeout(() => {
          if (!socket.destroyed) socket.write(`answer: ${match[2]} (looked up in ${ms} ms)\n`);
          busy = false;
          pump();
        }, ms);
      } else if (parts[0] === '/quit') {
        socket.end('bye\n');
        queue.length = 0;
      } else {
        socket.write(`error: unknown command ${parts[0]}\n`);
      }
    }
    // Back-pressure: stop reading while lines pile up behind a look-up.
    if (queue.length > 64) socket.pause(); else socket.resume();
  }

  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    pending += chunk;
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      queue.push(pending.slice(0, end).replace(/\r$/, ''));
      pending = pending.slice(end + 1);
    }
    if (pending.length > MAX_LINE) {
      socket.end('error: line too long\n');
      return;
    }
    pump();
  });
  socket.on('error', () => {});
}

const server = net.createServer(serveCaller);
server.on('error', (err) => {
  console.error(`node: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
  const address = server.address();
  console.log(`node: listening on ${address.address}:${address.port}`);
});
