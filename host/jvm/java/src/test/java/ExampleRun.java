import org.openmetadata.secrets.wasm.OmSecrets;

/** Runs the README's {@link Example} and says where the native library came from. */
public class ExampleRun {
  public static void main(String[] args) {
    Example.main(args);
    System.out.println("native library from: " + OmSecrets.nativeLibrarySource());
  }
}
