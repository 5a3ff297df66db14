import assert from 'node:assert/strict';
import test from 'node:test';
import { launchedUrl } from '../../../coordinator/browser/launcher.ts';

const URL_ = 'http://127.0.0.1:8080/?token=abc';

test('launched tabs share this machine: each declares its share of the cores, so one tab runs them all and four split them', () => {
  assert.equal(launchedUrl(URL_, 1, 16), `${URL_}&cpus=16`);
  assert.equal(launchedUrl(URL_, 4, 16), `${URL_}&cpus=4`);
  assert.equal(launchedUrl(URL_, 3, 2), `${URL_}&cpus=1`, 'more tabs than cores: one each, never zero');
});

test('a URL that declares its CPUs already keeps them', () => {
  assert.equal(launchedUrl(`${URL_}&cpus=8`, 2, 2), `${URL_}&cpus=8`);
});
