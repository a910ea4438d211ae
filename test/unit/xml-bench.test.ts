import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runXmlBench } from '../../bench/xml/run.js';

it('runXmlBench produces a row with positive numbers for each parser', async () => {
  const rows = await runXmlBench({ iterations: 1, corpusBytes: 20_000, minRoundMs: 20 });
  assert.deepEqual(
    rows.map((r) => r.parser.split(' ')[0]),
    ['canto', 'ltx', 'saxes'],
  );
  for (const r of rows) {
    assert.ok(r.mbPerSec > 0 && Number.isFinite(r.mbPerSec), `${r.parser} MB/s`);
    assert.ok(r.stanzasPerSec > 0 && Number.isFinite(r.stanzasPerSec), `${r.parser} stanzas/s`);
    assert.ok(r.bestMbPerSec >= r.mbPerSec, `${r.parser} best >= median`);
    assert.ok(r.passes >= 1);
  }
});
