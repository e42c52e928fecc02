package org.openmetadata.secrets.wasm;

import static org.openmetadata.secrets.wasm.TestSupport.*;

import java.util.List;

/** A deterministic mix of calls over every fixture: call {@code i}'s result depends on {@code i} only. */
final class Mix {
  static final List<String> CASES = List.of("mysql", "postgresEntity", "kafka", "bot", "pipeline", "workflow");
  static final int OPS = 6;

  final OmSecrets om;
  final Subject[] subjects = new Subject[CASES.size()];
  final String[] docs = new String[CASES.size()];
  final String[] stored = new String[CASES.size()];
  final String[] masked = new String[CASES.size()];

  Mix(OmSecrets om) {
    this.om = om;
    for (int c = 0; c < CASES.size(); c++) {
      subjects[c] = subject(CASES.get(c));
      docs[c] = document(CASES.get(c));
      stored[c] = om.seal(subjects[c], docs[c]);
      masked[c] = om.mask(subjects[c], stored[c]);
    }
  }

  /** The kinds of result: one per (operation, case). */
  static int slots() {
    return OPS * CASES.size();
  }

  static int slot(int i) {
    return Math.floorMod(i, slots());
  }

  /** Call {@code i} of the mix; its result as text. */
  String call(int i) {
    int s = slot(i);
    int c = s % CASES.size();
    Subject subj = subjects[c];
    switch (s / CASES.size()) {
      case 0:
        return om.mask(subj, stored[c]);
      case 1:
        return om.reveal(subj, stored[c], false);
      case 2:
        return om.reveal(subj, stored[c], true);
      case 3:
        return om.fields(subj, docs[c]).toString();
      case 4:
        return om.merge(subj, stored[c], masked[c]);
      default:
        // Sealing writes the same values again; what it stores reveals the same.
        return om.reveal(subj, om.seal(subj, docs[c]), false);
    }
  }

  /** Every slot's result, computed on this thread. */
  String[] expected() {
    String[] out = new String[slots()];
    for (int s = 0; s < slots(); s++) {
      out[s] = call(s);
    }
    return out;
  }
}
