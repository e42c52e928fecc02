import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.openmetadata.secrets.wasm.OmSecrets;
import org.openmetadata.secrets.wasm.Subject;

/**
 * The JVM arm of {@code cargo bench -p om-secrets-jvm --bench mask}: times {@code OmSecrets.mask}
 * on every config of the corpus file the Rust side wrote (one tab-separated line per config: id,
 * kind, service type, name, document), and prints one line per config: id, median nanoseconds.
 *
 * <p>Arguments: corpus file, repetitions per config, warm-up passes over the whole corpus.
 */
public class Bench {
  public static void main(String[] args) throws Exception {
    List<String[]> cases = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      cases.add(line.split("\t", 5));
    }
    int reps = Integer.parseInt(args[1]);
    int warmup = Integer.parseInt(args[2]);
    Subject[] subjects = new Subject[cases.size()];
    for (int i = 0; i < cases.size(); i++) {
      String[] c = cases.get(i);
      switch (c[1]) {
        case "service":
          subjects[i] = Subject.service(c[2], c[3]);
          break;
        case "bot":
          subjects[i] = Subject.bot(c[3]);
          break;
        default:
          subjects[i] = Subject.pipeline(c[3]);
      }
    }
    try (OmSecrets om = OmSecrets.fromMap(Map.of("secretsManager", "db", "fernetKey", args[3], "home", args[4]))) {
      long sink = 0;
      for (int w = 0; w < warmup; w++) {
        for (int i = 0; i < cases.size(); i++) {
          sink += om.mask(subjects[i], cases.get(i)[4]).length();
        }
      }
      long[] t = new long[reps];
      for (int i = 0; i < cases.size(); i++) {
        String doc = cases.get(i)[4];
        for (int r = 0; r < reps; r++) {
          long t0 = System.nanoTime();
          sink += om.mask(subjects[i], doc).length();
          t[r] = System.nanoTime() - t0;
        }
        Arrays.sort(t);
        System.out.println(cases.get(i)[0] + "\t" + t[reps / 2]);
      }
      System.err.println("checksum " + sink);
    }
  }
}
