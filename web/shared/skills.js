/* An agent's skills (routing.md section 1) as the web pages show them: the `skills` object
 * {name: level} of the login EventAck, of EventPlaceAgentState and of
 * EventCurrentAgentStatus, read defensively (it comes from a peer) and written as one
 * compact line a supervisor reads at a glance, sorted by name: "billing 9 · spanish 5".
 *
 * The same file is web/desk/skills.js and web/wallboard/skills.js (each daemon serves only
 * its own folder); tests/browser/skills.test.mjs checks that the two are identical and
 * tests this code in Node. A classic script: it defines the global ccSkills, used by
 * app.js, and touches nothing else. */
'use strict';

var ccSkills = (() => {
  // The configuration's rules for a skill (routing.md section 1, [skills]): an entry that
  // breaks them cannot come from a conforming server and is left out.
  const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
  const LEVEL_MIN = 1;
  const LEVEL_MAX = 10;
  // At most this many skills per agent (the configuration's limit); more are counted, not
  // listed, so that a peer's huge object costs no more than that on the page.
  const SHOWN_MAX = 64;
  const SEP = ' · ';

  /** The skills of v as {list: [[name, level], ...] sorted by name, more: valid entries
   *  beyond SHOWN_MAX (not listed), invalid: entries left out because they break the
   *  rules}, or null when v is not a skills object (absent, null, an array, a scalar): the
   *  page then shows nothing. */
  function parse(v) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    const list = [];
    let invalid = 0;
    for (const name of Object.keys(v)) {
      const level = v[name];
      if (NAME_RE.test(name) && Number.isInteger(level) && level >= LEVEL_MIN && level <= LEVEL_MAX) {
        list.push([name, level]);
      } else {
        invalid++;
      }
    }
    // Names are ASCII, so code-unit order is alphabetical and the same in every locale.
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let more = 0;
    if (list.length > SHOWN_MAX) {
      more = list.length - SHOWN_MAX;
      list.length = SHOWN_MAX;
    }
    return { list, more, invalid };
  }

  /** One line for a parsed value: "billing 9 · spanish 5", "no skills" when there is none,
   *  and " · +N more" when valid skills beyond SHOWN_MAX were not listed. Plain text:
   *  callers put it in textContent or a title, never in markup. */
  function format(p) {
    const parts = p.list.map(([name, level]) => name + ' ' + level);
    if (p.more > 0) parts.push('+' + p.more + ' more');
    return parts.length ? parts.join(SEP) : 'no skills';
  }

  /** format(parse(v)), or '' when v is not a skills object. */
  function text(v) {
    const p = parse(v);
    return p ? format(p) : '';
  }

  return { parse, format, text, SEP };
})();
