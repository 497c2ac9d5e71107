/**
 * Readable workspace names for agents that don't pick one: `brave-otter-42`. Easy to say in a
 * review ("merge brave-otter-42"), valid as a branch and container name part, and with ~90k
 * combinations a collision is rare (callers retry on one anyway).
 */
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber',
  'bold',
  'brave',
  'bright',
  'calm',
  'clever',
  'cosy',
  'crisp',
  'eager',
  'fancy',
  'gentle',
  'glad',
  'golden',
  'happy',
  'jolly',
  'keen',
  'kind',
  'lively',
  'lucky',
  'mellow',
  'merry',
  'nimble',
  'noble',
  'polite',
  'proud',
  'quick',
  'quiet',
  'rapid',
  'shiny',
  'silver',
  'smart',
  'snappy',
  'steady',
  'sunny',
  'swift',
  'tidy',
  'vivid',
  'warm',
  'wise',
  'witty',
] as const;

const ANIMALS = [
  'badger',
  'beaver',
  'bison',
  'crane',
  'dingo',
  'dolphin',
  'eagle',
  'falcon',
  'ferret',
  'finch',
  'fox',
  'gecko',
  'heron',
  'ibis',
  'jackal',
  'koala',
  'lemur',
  'lynx',
  'marmot',
  'mink',
  'moose',
  'newt',
  'ocelot',
  'orca',
  'otter',
  'owl',
  'panda',
  'puffin',
  'quail',
  'raven',
  'robin',
  'seal',
  'shrew',
  'stoat',
  'swan',
  'tapir',
  'tern',
  'toad',
  'walrus',
  'wombat',
] as const;

function pick<T>(list: readonly T[]): T {
  return list[randomInt(list.length)] as T;
}

/** A fresh `adjective-animal-NN` name (NN in 10..99). */
export function readableName(): string {
  return `${pick(ADJECTIVES)}-${pick(ANIMALS)}-${randomInt(10, 100)}`;
}
