/**
 * The CLI reference (docs/reference/cli.md), made from the commander declarations themselves
 * (coordinator/cli/program.ts): every command, every flag, its value, default and meaning. A flag
 * added or changed in the code changes this page; `npm run docs:check` fails until it is regenerated.
 */
import type { Command, Option } from '@commander-js/extra-typings';
import { program } from '../../coordinator/cli/program.ts';
import { plainText } from './markdownText.ts';

type AnyCommand = Command<unknown[], Record<string, unknown>>;

const cell = (text: string): string => plainText(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function defaultOf(o: Option): string {
  const d: unknown = o.defaultValue;
  if (d === undefined || d === false) return '';
  if (Array.isArray(d)) return d.length === 0 ? '' : `\`${d.join(', ')}\``;
  // The cache folder's default is this process's working directory: say what it is, not where the docs were made.
  if (typeof d === 'string' && d.startsWith('/')) return o.defaultValueDescription ?? '`./.tabpool`';
  return `\`${String(d)}\``;
}

function optionRow(o: Option): string {
  const choices = o.argChoices ? ` One of: ${o.argChoices.map((c) => `\`${c}\``).join(', ')}.` : '';
  const required = o.mandatory ? ' **Required.**' : '';
  const meaning = /[.)!?]$/.test(o.description) || !(choices || required) ? o.description : `${o.description}.`;
  return `| \`${o.flags.replace(/\|/g, '\\|')}\` | ${defaultOf(o)} | ${cell(meaning)}${choices}${required} |`;
}

function usage(path: string[], c: AnyCommand): string {
  const args = c.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`));
  return ['tabpool', ...path, ...args, c.options.length > 0 ? '[flags]' : ''].filter(Boolean).join(' ');
}

function section(path: string[], c: AnyCommand): string[] {
  const lines = [`## tabpool ${path.join(' ')}`, '', c.description(), '', '```', usage(path, c), '```', ''];
  for (const a of c.registeredArguments) lines.push(`- \`${a.name()}\`: ${a.description}`);
  if (c.registeredArguments.length > 0) lines.push('');
  const options = (c.options as Option[]).filter((o) => !o.hidden);
  if (options.length > 0) lines.push('| flag | default | meaning |', '|---|---|---|', ...options.map(optionRow), '');
  const sub = c.commands as AnyCommand[];
  return [...lines, ...sub.flatMap((s) => section([...path, s.name()], s))];
}

/** Every flag of every command, as `[command path, flag]`: what the completeness test checks the page against. */
export function everyFlag(): [string, string][] {
  const walk = (path: string[], c: AnyCommand): [string, string][] => [
    ...(c.options as Option[]).filter((o) => !o.hidden).map((o): [string, string] => [path.join(' '), o.long ?? o.flags]),
    ...(c.commands as AnyCommand[]).flatMap((s) => walk([...path, s.name()], s)),
  ];
  return (program().commands as AnyCommand[]).flatMap((c) => walk([c.name()], c));
}

export function cliReference(): string {
  const cli = program() as AnyCommand;
  return [
    '# CLI reference',
    '',
    '<!-- Generated from the commander declarations (coordinator/cli/) by `npm run docs:gen`; do not edit. -->',
    '',
    `${cli.description()} Every command checks all of its flags before it starts anything: an unknown flag or a bad value ` +
      'exits 2 with the reason and the fix. Durations take `ms`, `s`, `m` or `h` (`90s`, `5m`); sizes take `KiB`, `MiB`, `GiB`.',
    '',
    ...(cli.commands as AnyCommand[]).flatMap((c) => section([c.name()], c)),
  ].join('\n');
}
